"""The learned fixtures as edit-bench fixtures (testbed/edit_cases.py's `EditFixture`)."""
from __future__ import annotations

import torch

from .edit_cases import EditFixture, MovingClips

FRAMES = 8
MOTION = (0, 1)  # one latent pixel to the right per frame
CALIBRATION_SEED = 777  # real data for the metrics' calibration, apart from the held-out clips


def conditional_denoise(model, conditioning):
    """The model's clean estimate under a named condition, without CFG: what the metrics probe. The probe
    is in eps form (edit_metrics.ConditionalDenoise); a flow model gets it at its own noise level,
    noisy / (1 + sigma) at sigma / (1 + sigma), which is the same signal-to-noise ratio."""
    from ..comfy_glue.model_types import model_family

    flow = model_family(model) == "flow"

    def denoise(x, sigma, condition):
        if flow:
            x, sigma = x / (1.0 + sigma), sigma / (1.0 + sigma)
        context = conditioning[condition][0][0].to(x.device).expand(x.shape[0], -1, -1)
        sigmas = torch.full((x.shape[0],), sigma, device=x.device)
        with torch.no_grad():  # the reference model reads the exact sigma from transformer_options
            return model.model.apply_model(x, sigmas, c_crossattn=context, transformer_options={"sigmas": sigmas})

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


def learned_wan() -> EditFixture:
    """testbed/learned_wan.py's video flow model; a clip is one held-out clip (17 video frames, 5 latent
    frames) whose content moves at its own known velocity, in Wan's layout (clips, 16, frames, H, W)."""
    from .learned_wan import CONDITIONS, held_out_clips, load_learned_wan, sample_clips

    model, conditioning = load_learned_wan()

    def moving_clips(condition, clips):
        latent, velocity = held_out_clips(condition, clips)
        return MovingClips(latent, latent.shape[2], tuple((int(dy), int(dx)) for dy, dx in velocity))

    def real_latents(condition, count):
        generator = torch.Generator().manual_seed(CALIBRATION_SEED + CONDITIONS.index(condition))
        return sample_clips(condition, count, generator)[0]

    return EditFixture(
        name="learned Wan2.1-architecture video flow model (testbed/weights/learned_wan.safetensors)",
        model=model, conditioning=conditioning, conditions=CONDITIONS, ays_type="Wan2.1",
        moving_clips=moving_clips, real_latents=real_latents,
        as_clips=lambda latent, frames: latent.movedim(2, 1),
        denoise=conditional_denoise(model, conditioning),
    )


# The weight-free flow fixture's prompts: two looks far apart (a warm low-chroma tint, a dark blue one).
LOOKS = ("sepia", "night")
LOOK_SIZE = (5, 16, 16)  # latent frames (17 video frames), height, width


def weight_free_flow() -> EditFixture:
    """The exact reference model as Wan2.1 (comfy_glue/reference_model.py, no weights): its prompts are
    looks, so every edit is a colour restyle, and its data is independent per latent pixel, so any
    deterministic per-pixel edit moves exactly with the content. A clip is a still of a look's data
    moving MOTION per latent frame, in Wan's layout (clips, 16, frames, H, W)."""
    from ..comfy_glue.reference_model import conditioning, reference_model
    from ..reference.looks import VOCABULARY

    model = reference_model("Wan2.1", "gaussian")
    colours = model.model.diffusion_model.colours
    prompts = {look: conditioning("Wan2.1", VOCABULARY[look].code()) for look in LOOKS} | {"": conditioning("Wan2.1")}
    frames, height, width = LOOK_SIZE

    def stills(condition, count, seed):
        generator = torch.Generator().manual_seed(seed + LOOKS.index(condition))
        return colours.sample(VOCABULARY[condition].code(), (count, 16, height, width), generator)

    def moving_clips(condition, clips):
        return MovingClips(moving(stills(condition, clips, 0), frames, MOTION).movedim(1, 2), frames, (MOTION,) * clips)

    return EditFixture(
        name="weight-free exact flow model (RewindReferenceModel Wan2.1: prompts are looks, colour restyles)",
        model=model, conditioning=prompts, conditions=LOOKS, ays_type="Wan2.1",
        moving_clips=moving_clips, real_latents=lambda condition, count: stills(condition, count, CALIBRATION_SEED),
        as_clips=lambda latent, frames: latent.movedim(2, 1),
        denoise=conditional_denoise(model, prompts),
    )


# Every learned fixture the repository ships, by the short name the edit bench and test take.
LEARNED_FIXTURES = {"sd15": learned_sd15, "wan": learned_wan}
