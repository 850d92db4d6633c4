"""GPU cost of unsampling at full size: native FlipSigmas + SamplerCustom(euler) against every
Rewind unsample mode, what recording the trajectory (offloaded to host memory as it goes) adds,
and peak VRAM.

SD1.5 (16 frames, 512x512) and Wan2.1-1.3B (33 frames, 480p) are built from ComfyUI's own model
classes with random fp16 weights, so nothing is downloaded; the cost of a step does not depend on
the weights. Without CUDA (CI) the same code runs toy-sized architectures so it never rots. The
Rewind modes are read from RewindUnsampler's solver list, so a new mode is benched without edits.

    python bench/gpu.py [--steps 8] [--toy]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_comfyui, run_core

SD15_UNET = {  # ComfyUI's SD1.5 UNet config, as model detection derives it from the checkpoint
    "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "use_spatial_transformer": True, "legacy": False, "adm_in_channels": None, "num_res_blocks": [2, 2, 2, 2],
    "channel_mult": [1, 2, 4, 4], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "use_linear_in_transformer": False,
    "context_dim": 768, "use_temporal_attention": False, "use_temporal_resblock": False,
}
SD15_TOY = {**SD15_UNET, "model_channels": 32, "num_res_blocks": [1, 1], "channel_mult": [1, 2],
            "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1]}
WAN21_1_3B = {  # Wan2.1 t2v 1.3B, as model detection derives it from wan2.1_t2v_1.3B_fp16.safetensors
    "image_model": "wan2.1", "model_type": "t2v", "dim": 1536, "ffn_dim": 8960, "num_heads": 12, "num_layers": 30,
    "in_dim": 16, "out_dim": 16, "freq_dim": 256, "patch_size": (1, 2, 2), "window_size": (-1, -1),
    "qk_norm": True, "cross_attn_norm": True, "eps": 1e-6,
}
WAN21_TOY = {**WAN21_1_3B, "dim": 128, "ffn_dim": 256, "num_heads": 1, "num_layers": 1}


@dataclass(frozen=True)
class Architecture:
    name: str
    config: str  # class name in comfy.supported_models
    unet: dict
    latent: tuple[int, ...]
    context: tuple[int, ...]


def architectures(toy: bool) -> list[Architecture]:
    if toy:
        return [Architecture("SD1.5 (toy)", "SD15", SD15_TOY, (1, 4, 8, 8), (1, 8, 768)),
                Architecture("Wan2.1 (toy)", "WAN21_T2V", WAN21_TOY, (1, 16, 1, 4, 4), (1, 8, 4096))]
    return [Architecture("SD1.5, 16 frames 512x512", "SD15", SD15_UNET, (16, 4, 64, 64), (1, 77, 768)),
            Architecture("Wan2.1-1.3B, 33 frames 832x480", "WAN21_T2V", WAN21_1_3B, (1, 16, 9, 60, 104),
                         (1, 512, 4096))]


def build(arch: Architecture, dtype: torch.dtype):
    """A ModelPatcher of the real architecture with random weights (small, so activations stay finite)."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models

    config = getattr(comfy.supported_models, arch.config)(arch.unet)
    config.set_inference_dtype(dtype, None)
    device = mm.get_torch_device()
    model = config.get_model({}, device=device)
    with torch.no_grad():
        for name, parameter in model.diffusion_model.named_parameters():
            parameter.copy_(torch.ones_like(parameter) if "norm" in name and name.endswith("weight")
                            else torch.randn_like(parameter) * 0.02)
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=mm.unet_offload_device())


def timed(run, device: torch.device) -> tuple[float, float | None]:
    """Seconds and peak memory (GiB) of one call; on CUDA after a warm-up call (kernels, allocator)."""
    if device.type == "cuda":
        run()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**30
    return time.perf_counter() - start, None


def bench(arch: Architecture, steps: int, dtype: torch.dtype) -> list[tuple[str, float, float | None]]:
    """(label, seconds per step, peak GiB) of unsampling `steps` steps, native first."""
    import comfy.model_management as mm
    from comfy_extras.nodes_custom_sampler import FlipSigmas, KSamplerSelect, SamplerCustom

    from rewind.nodes import sampling
    from rewind.samplers.modes import SAMPLER_UNSAMPLE_SOLVERS, UNSAMPLE_SOLVERS

    device = mm.get_torch_device()
    model = build(arch, dtype)
    cond = [[torch.zeros(arch.context), {}]]
    latent = {"samples": torch.randn(arch.latent, generator=torch.Generator().manual_seed(0))}
    schedule = "SD1" if arch.config == "SD15" else "Wan2.1"
    sigmas = sampling.RewindAYSScheduler.execute(schedule, steps, 1.0).result[0]

    def through_sampler_custom(sampler, flipped):
        return lambda: run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, sampler, flipped, latent)

    runs = {"native euler": through_sampler_custom(run_core(KSamplerSelect, "euler")[0],
                                                   run_core(FlipSigmas, sigmas.clone())[0])}
    rewind_flipped = sampling.RewindFlipSigmas.execute(sigmas).result[0]
    for solver in UNSAMPLE_SOLVERS:
        if solver in SAMPLER_UNSAMPLE_SOLVERS:
            sampler = sampling.RewindUnsampleSampler.execute(solver, 4).result[0]
            runs[f"rewind {solver}"] = through_sampler_custom(sampler, rewind_flipped)
        else:  # coupled solvers hand two states on: only the Rewind Unsampler node (trajectory recorded) runs them
            runs[f"rewind {solver}"] = lambda solver=solver: sampling.RewindUnsampler.execute(
                model, cond, cond, latent, 1.0, sigmas, solver)
        if solver == "euler":  # the node records and offloads every step's latent for coherence anchors
            runs["rewind euler + trajectory"] = lambda: sampling.RewindUnsampler.execute(
                model, cond, cond, latent, 1.0, sigmas, "euler")
    results = []
    for label, run in runs.items():
        seconds, peak = timed(run, device)
        results.append((label, seconds / steps, peak))
    del model
    mm.unload_all_models()
    mm.soft_empty_cache()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--toy", action="store_true", help="toy-sized architectures (the default without CUDA)")
    options = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    import_comfyui(cpu=not cuda)
    toy = options.toy or not cuda
    dtype = torch.float16 if cuda else torch.float32
    print(f"{'CUDA ' + torch.cuda.get_device_name() if cuda else 'CPU'}, {dtype}, {options.steps} unsample steps"
          f"{', toy sizes: the figures only show that the code runs' if toy else ''}")
    for arch in architectures(toy):
        results = bench(arch, options.steps, dtype)
        per_step = {label: seconds for label, seconds, _ in results}
        print(f"\n{arch.name}")
        print(f"  {'mode':30s} {'s/step':>9s} {'x native':>9s} {'peak GiB':>9s}")
        for label, seconds, peak in results:
            print(f"  {label:30s} {seconds:9.4f} {seconds / per_step['native euler']:8.2f}x"
                  f" {'' if peak is None else f'{peak:9.2f}'}")
        print(f"  trajectory recording costs {per_step['rewind euler + trajectory'] / per_step['rewind euler']:.2f}x"
              " rewind euler (1.00x: the offload is fully overlapped)")


if __name__ == "__main__":
    main()
