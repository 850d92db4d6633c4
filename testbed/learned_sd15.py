"""A small *learned* SD1.5-architecture denoiser, trained by the project on CPU (800 steps, ~20 minutes).

Closed-form denoisers are far smoother than a trained network, so inversion that is exact on them
can still fail on real models. This is ComfyUI's own SD1.5 UNet (cross-attention, eps prediction on
SD1.5's discrete sigmas) at toy size, trained on two classes of structured synthetic 4x16x16
latents (smooth blobs, oriented stripes) with 10 % condition dropout, so CFG means something.

    python testbed/learned_sd15.py          # retrains and rewrites testbed/weights/learned_sd15.safetensors

Training is deterministic (fixed seeds, one thread, deterministic algorithms). The fixture is
loaded back through ComfyUI's own code: its architecture is detected from the state dict's keys
and shapes by `comfy.model_detection.detect_unet_config`, then built and loaded by the SD15
model config. Only the name lookup is bypassed, because ComfyUI matches SD1.5 by its full width.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parent / "weights" / "learned_sd15.safetensors"
CONDITIONS = ("blobs", "stripes")
CONTEXT_TOKENS, CONTEXT_DIM = 2, 32
LATENT_SHAPE = (4, 16, 16)
UNET_CONFIG = {  # what detect_unet_config reads back from the fixture's keys and shapes
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 32,
    "num_res_blocks": [1, 1, 1], "transformer_depth": [0, 1, 1], "transformer_depth_output": [0, 0, 1, 1, 1, 1],
    "channel_mult": [1, 2, 2], "transformer_depth_middle": 1, "use_linear_in_transformer": False,
    "context_dim": CONTEXT_DIM, "use_temporal_resblock": False, "use_temporal_attention": False,
}
TRAIN_SEED, HELD_OUT_SEED = 0, 12345
TRAIN_STEPS, BATCH, LEARNING_RATE, DROPOUT = 800, 32, 2e-3, 0.1


def condition_embeddings() -> dict[str, torch.Tensor]:
    """Fixed text-embedding stand-ins, (1, tokens, dim) each; the empty prompt is all zeros."""
    generator = torch.Generator().manual_seed(7)
    embeddings = {name: torch.randn(1, CONTEXT_TOKENS, CONTEXT_DIM, generator=generator) for name in CONDITIONS}
    return {**embeddings, "": torch.zeros(1, CONTEXT_TOKENS, CONTEXT_DIM)}


def sample_latents(condition: str, count: int, generator: torch.Generator) -> torch.Tensor:
    """Clean latents (model space, about unit std) of one class: smooth and structured like images."""
    channels, height, width = LATENT_SHAPE
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    colour = torch.randn(count, channels, 1, 1, generator=generator)
    if condition == "blobs":
        field = torch.zeros(count, 1, height, width)
        for _ in range(3):
            cy, cx = (torch.rand(2, count, 1, 1, 1, generator=generator) * torch.tensor([height, width]).view(2, 1, 1, 1, 1))
            radius = 2.0 + 2.5 * torch.rand(count, 1, 1, 1, generator=generator)
            sign = torch.where(torch.rand(count, 1, 1, 1, generator=generator) < 0.5, -1.0, 1.0)
            field = field + sign * torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * radius**2))
        return 1.2 * colour * field + 0.3 * torch.randn(count, channels, 1, 1, generator=generator)
    if condition == "stripes":
        angle = math.pi * torch.rand(count, 1, 1, 1, generator=generator)
        frequency = 2 * math.pi * (1.5 + 2.0 * torch.rand(count, 1, 1, 1, generator=generator)) / width
        phase = 2 * math.pi * torch.rand(count, 1, 1, 1, generator=generator)
        wave = torch.sin(frequency * (xs * torch.cos(angle) + ys * torch.sin(angle)) + phase)
        return colour * wave
    raise ValueError(f"Unknown condition {condition!r}: expected one of {CONDITIONS}.")


def held_out_latents(condition: str, count: int) -> torch.Tensor:
    return sample_latents(condition, count, torch.Generator().manual_seed(HELD_OUT_SEED + CONDITIONS.index(condition)))


def _build_unet():
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    import comfy.supported_models

    from .training import TrainableOps

    config = {**UNET_CONFIG, **comfy.supported_models.SD15.unet_extra_config}
    return UNetModel(**config, dtype=torch.float32, device="cpu", operations=TrainableOps)


def train(steps: int = TRAIN_STEPS, log=print) -> dict[str, torch.Tensor]:
    """Trains the denoiser and returns its state dict in ComfyUI's SD1.5 UNet key layout."""
    from .training import deterministic, fit

    with deterministic():
        torch.manual_seed(TRAIN_SEED)
        unet = _build_unet()
        sigmas = _sd15_sigmas()
        embeddings = condition_embeddings()
        generator = torch.Generator().manual_seed(TRAIN_SEED)
        fit(unet, lambda: _batch_loss(unet, sigmas, embeddings, generator), steps, LEARNING_RATE, log)
    return {key: value.detach().clone() for key, value in unet.state_dict().items()}


def _batch_loss(unet, sigmas, embeddings, generator):
    """Noise MSE on a fresh batch, half each class, DROPOUT of it under the empty prompt."""
    half = BATCH // 2
    clean = torch.cat([sample_latents(c, half, generator) for c in CONDITIONS])
    context = torch.cat([embeddings[c].expand(half, -1, -1) for c in CONDITIONS])
    dropped = torch.rand(BATCH, generator=generator) < DROPOUT
    context = torch.where(dropped.view(-1, 1, 1), embeddings[""], context)
    timestep = torch.randint(0, len(sigmas), (BATCH,), generator=generator)
    sigma = sigmas[timestep].view(-1, 1, 1, 1)
    noise = torch.randn(clean.shape, generator=generator)
    noisy = (clean + sigma * noise) / torch.sqrt(sigma**2 + 1.0)  # SD1.5's c_in scaling
    return torch.nn.functional.mse_loss(unet(noisy, timestep.float(), context=context), noise)


def _sd15_sigmas() -> torch.Tensor:
    """SD1.5's 1000 discrete training sigmas (scaled-linear betas), as ModelSamplingDiscrete has them."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float()


def write_fixture(state_dict: dict[str, torch.Tensor], path: Path = FIXTURE) -> Path:
    from .training import write_fp16

    conditions = {f"rewind_condition.{name or 'empty'}": value for name, value in condition_embeddings().items()}
    return write_fp16(state_dict, conditions, path, "learned sd1.5-architecture denoiser")


def load_learned_model(path: Path = FIXTURE):
    """The fixture as a ComfyUI MODEL (ModelPatcher) plus {condition: CONDITIONING}, '' the empty prompt."""
    import comfy.model_detection
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    import comfy.utils

    state_dict = comfy.utils.load_torch_file(str(path))
    conditions = {key.split(".", 1)[1]: state_dict.pop(key) for key in list(state_dict) if key.startswith("rewind_condition.")}
    unet_config = comfy.model_detection.detect_unet_config(state_dict, "")
    config = comfy.supported_models.SD15(unet_config)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model(state_dict, "", device=comfy.model_management.get_torch_device())
    model.load_model_weights(state_dict, "")
    model.requires_grad_(False)  # ComfyUI's executor runs under inference_mode; tests and benches call nodes directly
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    conditioning = {("" if name == "empty" else name): [[value.float(), {}]] for name, value in conditions.items()}
    return patcher, conditioning


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from comfy_env import import_comfyui

    import_comfyui(cpu=True)
    from rewind.testbed import learned_sd15  # the package's module, whose relative imports resolve

    steps = int(sys.argv[1]) if len(sys.argv) > 1 else TRAIN_STEPS
    print(f"wrote {learned_sd15.write_fixture(learned_sd15.train(steps))}")
