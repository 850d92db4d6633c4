"""Roundtrip accuracy and cost: native FlipSigmas + SamplerCustom vs every Rewind mode.

Two kinds of model. Exact reference models (the analytic posterior mean of Gaussian or
mixture-of-Gaussians data) make every error the sampler's own. The project's learned SD1.5-
architecture denoiser (testbed/weights/learned_sd15.safetensors, see testbed/learned_sd15.py) is far
less smooth, like a real network, and has prompts, so CFG means something. Prints PSNR (dB) of
unsample -> resample against the input latent, model calls, the unsampled noise's scale, and the
per-step wall-time ratio of Rewind's euler unsampler over native SamplerCustom.

    python bench/roundtrip.py [--steps 8 16 32] [--gpu] [--learned-only]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import ModelCallCounter, import_comfyui, run_core

FAMILIES = {"SD1.5 (eps)": ("SD1.5", "SD1"), "Wan2.1 (flow)": ("Wan2.1", "Wan2.1")}
REWIND_MODES = [("euler", None), ("heun", None), ("dpmpp_2m", None), ("exact", 2), ("exact", 4), ("exact", 8),
                ("exact_heun", 4), ("bdia", 4)]
LEARNED_MODES = [("euler", None), ("exact", 2), ("exact", 4), ("exact_heun", 4), ("bdia", 4)]
LEARNED_CFGS = (1.0, 3.0, 7.0)


def build(family, data):
    from rewind.nodes import diagnostics

    model, vae, cond, _ = diagnostics.RewindReferenceModel.execute(family, data).result
    frames = 9 if family == "Wan2.1" else 4
    pixels = torch.rand(frames, 128, 128, 3, generator=torch.Generator().manual_seed(0))
    return model, cond, {"samples": vae.encode(pixels)}


def native(model, cond, latent, sigmas, cfg=1.0, negative=None):
    """Returns (noise, roundtrip) latents."""
    from comfy_extras.nodes_custom_sampler import FlipSigmas, KSamplerSelect, SamplerCustom

    negative = cond if negative is None else negative
    euler = run_core(KSamplerSelect, "euler")[0]
    flipped = run_core(FlipSigmas, sigmas.clone())[0]
    noise = run_core(SamplerCustom, model, False, 0, cfg, cond, negative, euler, flipped, latent)[0]
    return noise, run_core(SamplerCustom, model, False, 0, cfg, cond, negative, euler, sigmas, noise)[0]


def rewind(model, cond, latent, sigmas, solver, iterations, cfg=1.0, negative=None):
    """Returns (noise, roundtrip) latents."""
    from rewind.nodes import sampling

    negative = cond if negative is None else negative
    noise = sampling.RewindUnsampler.execute(model, cond, negative, latent, cfg, sigmas, solver,
                                             iterations or 4).result[0]
    return noise, sampling.RewindResampler.execute(model, cond, negative, noise, cfg, "match unsampler").result[0]


def learned_table(steps=16, per_class=2):
    """The issue's measurement on a trained network: held-out latents of each class, its prompt as
    positive and the empty prompt as negative, same prompt and CFG on both passes. Cells give the
    worse class's PSNR and the model calls per step for both passes together (CFG's cond/uncond
    batch is one call). Noise: std of the unsampled latent over the ideal sqrt(var(x0) + sigma_max^2)."""
    from rewind.nodes import sampling
    from rewind.reference import latent_psnr
    from rewind.testbed.learned_sd15 import CONDITIONS, held_out_latents, load_learned_model

    model, conditioning = load_learned_model()
    model = model.clone()
    counter = ModelCallCounter(model)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", steps, 1.0).result[0]
    ideal = {c: float((held_out_latents(c, per_class).var() + float(sigmas[0]) ** 2).sqrt()) for c in CONDITIONS}
    print(f"\nLearned SD1.5-architecture model (testbed/weights/learned_sd15.safetensors), held-out data, {steps} AYS "
          f"SD1 steps, same prompt and CFG both passes; cell: worst-class PSNR (model calls per step, both passes) "
          f"[unsampled noise std / ideal]")
    modes = [("native euler", None)] + LEARNED_MODES
    print("| CFG | " + " | ".join(m if m == "native euler" else f"rewind {m}{'/' + str(i) if i else ''}"
                                  for m, i in modes) + " |")
    print("|---" * (1 + len(modes)) + "|")
    for cfg in LEARNED_CFGS:
        cells = []
        for solver, iterations in modes:
            psnrs, calls, scales = [], 0, []
            for condition in CONDITIONS:
                clean = held_out_latents(condition, per_class)
                latent = {"samples": model.model.process_latent_out(clean)}
                positive, negative = conditioning[condition], conditioning[""]
                counter.reset()
                if solver == "native euler":
                    noise, out = native(model, positive, latent, sigmas, cfg, negative)
                else:
                    noise, out = rewind(model, positive, latent, sigmas, solver, iterations, cfg, negative)
                calls += counter.calls
                psnrs.append(latent_psnr(latent["samples"], out["samples"]))
                scales.append(float(model.model.process_latent_in(noise["samples"]).std()) / ideal[condition])
            shown = "non-finite" if any(map(math.isnan, psnrs)) else f"{min(psnrs):.1f} dB"
            cells.append(f"{shown} ({calls / len(CONDITIONS) / steps:.2f}) [{sum(scales) / len(scales):.2f}]")
        print(f"| {cfg:g} | " + " | ".join(cells) + " |")


def cfg_pair_table(steps=16, per_class=2):
    """How far the result moves from the input when the two passes' CFGs differ (same prompt, default
    unsampler), on the learned model: the measured range behind the README's CFG advice."""
    from rewind.nodes import sampling
    from rewind.reference import latent_psnr
    from rewind.testbed.learned_sd15 import CONDITIONS, held_out_latents, load_learned_model

    model, conditioning = load_learned_model()
    sigmas = sampling.RewindAYSScheduler.execute("SD1", steps, 1.0).result[0]
    print(f"\nLearned model, default unsampler (bdia), same prompt both passes, {steps} steps: worst-class PSNR of the "
          "result against the input, by unsampler CFG (rows) and resampler CFG (columns)")
    print("| unsampler CFG | " + " | ".join(f"resample CFG {c:g}" for c in LEARNED_CFGS) + " |")
    print("|---" * (1 + len(LEARNED_CFGS)) + "|")
    for unsample_cfg in LEARNED_CFGS:
        cells = []
        for resample_cfg in LEARNED_CFGS:
            psnrs = []
            for condition in CONDITIONS:
                latent = {"samples": model.model.process_latent_out(held_out_latents(condition, per_class))}
                positive, negative = conditioning[condition], conditioning[""]
                noise = sampling.RewindUnsampler.execute(model, positive, negative, latent, unsample_cfg, sigmas,
                                                         "bdia").result[0]
                out = sampling.RewindResampler.execute(model, positive, negative, noise, resample_cfg,
                                                       "match unsampler").result[0]
                psnrs.append(latent_psnr(latent["samples"], out["samples"]))
            cells.append(f"{min(psnrs):.1f} dB")
        print(f"| {unsample_cfg:g} | " + " | ".join(cells) + " |")


def accuracy_table(steps_list):
    from rewind.nodes import sampling
    from rewind.reference import latent_psnr

    print("| model | data | steps | native euler | " + " | ".join(
        f"rewind {s}{'/' + str(i) if i else ''}" for s, i in REWIND_MODES) + " |")
    print("|---" * (4 + len(REWIND_MODES)) + "|")
    for label, (family, ays_type) in FAMILIES.items():
        for data in ("gaussian", "mixture"):
            for steps in steps_list:
                model, cond, latent = build(family, data)
                model = model.clone()
                counter = ModelCallCounter(model)
                sigmas = sampling.RewindAYSScheduler.execute(ays_type, steps, 1.0).result[0]
                cells = []
                runs = [("native", lambda: native(model, cond, latent, sigmas))]
                runs += [(m, lambda m=m, i=i: rewind(model, cond, latent, sigmas, m, i)) for m, i in REWIND_MODES]
                for _, run in runs:
                    counter.reset()
                    out = run()[1]["samples"]
                    psnr = latent_psnr(latent["samples"], out)
                    shown = "non-finite" if not torch.isfinite(out).all() else f"{psnr:.1f} dB"
                    cells.append(f"{shown} ({counter.calls})")
                print(f"| {label} | {data} | {steps} | " + " | ".join(cells) + " |")
    print("\nCells: roundtrip PSNR against the input latent (model evaluations for unsample + resample). "
          "'exact/N' = N fixed-point iterations per unsampling step.")


def noise_scale_table(steps=16):
    """How noise-like the unsampled latent is when the clip is drawn from the model's own data
    distribution: its std over the std of truly forward-noised data at the top level (1.0 is ideal).
    Exact inversion inherits the retraced solver's discretisation error; heun's is smaller."""
    from rewind.nodes import sampling
    from rewind.reference import DATA

    print(f"\nNoise scale of the unsampled latent, mixture data, {steps} steps (std / ideal std, 1.0 is ideal)")
    print("| model | rewind euler | rewind exact | rewind exact_heun | rewind bdia |\n|---|---|---|---|---|")
    for label, (family, ays_type) in FAMILIES.items():
        model, cond, _ = build(family, "mixture")
        shape = (1, 16, 9, 16, 16) if family == "Wan2.1" else (4, 4, 16, 16)
        clean = DATA["mixture"].sample(shape, torch.Generator().manual_seed(1))
        latent = {"samples": model.model.process_latent_out(clean)}
        sigmas = sampling.RewindAYSScheduler.execute(ays_type, steps, 1.0).result[0]
        top = float(sigmas[0])
        ideal = 1.0 if family == "Wan2.1" else float((clean.var() + top**2).sqrt())
        cells = []
        for solver in ("euler", "exact", "exact_heun", "bdia"):
            noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, solver, 4).result[0]
            cells.append(f"{float(model.model.process_latent_in(noise['samples']).std()) / ideal:.3f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def flow_shift_table(steps=16):
    """Why RewindAYSScheduler's Wan2.1 schedule defaults to flow_shift 3: exactness vs shift."""
    from rewind.nodes import sampling
    from rewind.reference import latent_psnr

    model, cond, latent = build("Wan2.1", "mixture")
    print(f"\nWan2.1 flow schedule, mixture data, {steps} steps: roundtrip PSNR by flow_shift")
    print("| flow_shift | smallest nonzero sigma | rewind euler | rewind exact/4 | rewind bdia |\n|---|---|---|---|---|")
    for shift in (1.0, 3.0, 5.0, 8.0):
        sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", steps, 1.0, shift).result[0]
        cells = [latent_psnr(latent["samples"], rewind(model, cond, latent, sigmas, solver, 4)[1]["samples"])
                 for solver in ("euler", "exact", "bdia")]
        print(f"| {shift:g} | {float(sigmas[-2]):.3f} | " + " | ".join(f"{cell:.1f} dB" for cell in cells) + " |")


def overhead(steps=16, rounds=20):
    """Per-step wall time of Rewind's explicit euler unsampler over native SamplerCustom, same model.
    Runs alternate and each side keeps its best, so load from other processes cancels out."""
    from comfy_extras.nodes_custom_sampler import FlipSigmas, KSamplerSelect, SamplerCustom

    from rewind.nodes import sampling

    model, cond, latent = build("SD1.5", "gaussian")
    latent = {"samples": latent["samples"].repeat(4, 1, 1, 1)}
    sigmas = sampling.RewindAYSScheduler.execute("SD1", steps, 1.0).result[0]
    flipped = run_core(FlipSigmas, sigmas.clone())[0]
    euler = run_core(KSamplerSelect, "euler")[0]
    runs = {
        "native": lambda: run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, euler, flipped, latent),
        "rewind": lambda: sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler"),
    }
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
    print(f"\nPer-step time, euler unsampling, {steps} steps, latent {tuple(latent['samples'].shape)}: "
          f"native {best['native'] * 1e3:.2f} ms, Rewind {best['rewind'] * 1e3:.2f} ms, "
          f"ratio Rewind/native = {best['rewind'] / best['native']:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--gpu", action="store_true", help="run on the GPU instead of the CPU")
    parser.add_argument("--learned-only", action="store_true", help="only the learned model's table")
    args = parser.parse_args()
    import_comfyui(cpu=not args.gpu)
    learned_table()
    cfg_pair_table()
    if args.learned_only:
        return
    accuracy_table(args.steps)
    noise_scale_table()
    flow_shift_table()
    overhead()


if __name__ == "__main__":
    main()
