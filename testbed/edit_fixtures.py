"""The learned fixtures as edit-bench fixtures (testbed/edit_cases.py's `EditFixture`)."""
from __future__ import annotations

import torch

from .edit_cases import EditFixture, MovingClips

FRAMES = 8
MOTION = (0, 1)  # one latent pixel to the right per frame
CALIBRATION_SEED = 777  # real data for the metrics' calibration, apart from the held-out clips


def conditional_denoise(model, conditioning):
    """The model's clean estimate under a named condition, without CFG: what the metrics probe."""
    def denoise(x, sigma, condition):
        context = conditioning[condition][0][0].to(x.device).expand(x.shape[0], -1, -1)
        with torch.no_grad():
            return model.model.apply_model(x, torch.full((x.shape[0],), sigma, device=x.device), c_crossattn=context)

    return denoise


def moving(stills: torch.Tensor, frames: int, motion: tuple[int, int]) -> torch.Tensor:
    """(clips, C, H, W) stills -> (clips, frames, C, H, W): each still moved by `motion` per frame,
    wrapping around (the metrics leave the borders out)."""
    return torch.stack([torch.roll(stills, (k * motion[0], k * motion[1]), dims=(-2, -1)) for k in range(frames)], 1)


def learned_sd15(frames: int = FRAMES) -> EditFixture:
    """testbed/learned_sd15.py's denoiser; a clip is one held-out latent moving MOTION per frame,
    run as SD1.5 runs video: a frame batch (clips * frames, 4, 16, 16)."""
    from .learned_sd15 import CONDITIONS, held_out_latents, load_learned_model, sample_latents

    model, conditioning = load_learned_model()

    def moving_clips(condition, clips):
        return MovingClips(moving(held_out_latents(condition, clips), frames, MOTION).flatten(0, 1), frames,
                           (MOTION,) * clips)

    def real_latents(condition, count):
        generator = torch.Generator().manual_seed(CALIBRATION_SEED + CONDITIONS.index(condition))
        return sample_latents(condition, count, generator)

    return EditFixture(
        name="learned SD1.5-architecture denoiser (testbed/weights/learned_sd15.safetensors)",
        model=model, conditioning=conditioning, conditions=CONDITIONS, ays_type="SD1",
        moving_clips=moving_clips, real_latents=real_latents,
        as_clips=lambda latent, frames: latent.unflatten(0, (-1, frames)),
        denoise=conditional_denoise(model, conditioning),
    )


def learned_fixtures() -> list[EditFixture]:
    """Every learned fixture the repository ships, as the edit bench runs them."""
    return [learned_sd15()]
