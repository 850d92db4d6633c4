"""A small *learned* Wan2.1-architecture video flow model, trained by the project on CPU.

Closed-form test models are far smoother than trained networks, and they have no prompts. This is
ComfyUI's own `WanModel` at toy size, rectified-flow trained exactly as ComfyUI runs Wan (below) on
latent clips in Wan's layout whose content moves, with two text conditions (blobs, stripes) and 10 %
condition dropout, so CFG means something. Each class has its own colour and structure and every clip
translates at a known velocity, so an edit benchmark can measure prompt adherence, structure, and
steadiness along the motion.

    python testbed/learned_wan.py          # retrains and rewrites testbed/weights/learned_wan.safetensors

ComfyUI's Wan (comfy.model_base.WAN21: ModelType.FLOW, model_sampling CONST + ModelSamplingDiscreteFlow)
feeds the network x_sigma = (1 - sigma) * x0 + sigma * noise unscaled (c_in = 1) at timestep
sigma * 1000 and reads its output as the velocity noise - x0 (denoised = x - sigma * output); the
shift only places the schedule's sigmas. Training uses the same parametrisation.

What the toy network learns (tests/integration/test_learned_wan.py): each prompt's colour in full;
the motion as a denoiser (a clip whose frames are out of order is denoised 2-3.6x worse than the
moving clip), so edits of moving clips test its temporal attention; the right prompt denoises a class
clearly better than the wrong one where the prompt decides (sigma >= 0.9). What it does not: its
samples from pure noise hardly move, and under 'stripes' they are not clean single waves.
The edit benchmark judges prompt adherence by the model's own class-conditional denoising error
(testbed/edit_metrics.py), calibrated on real data, as on the SD1.5 fixture.

Training is deterministic (fixed seeds, one thread, deterministic algorithms). The fixture is loaded
through ComfyUI's public diffusion-model loader, `comfy.sd.load_diffusion_model_state_dict` (what
UNETLoader runs), which detects the architecture from the keys and shapes and picks WAN21_T2V.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

WEIGHTS = Path(__file__).resolve().parent / "weights"
FIXTURE = WEIGHTS / "learned_wan.safetensors"
# Wan2.2 A14B samples with a high-noise expert down to this sigma and a low-noise one below it (its
# T2V config's `boundary`; samplers/experts.py T2V_BOUNDARY, restated as this file runs as a script and
# checked equal by test_learned_wan.py). The learned pair is split there, each expert trained on its
# side only, with its own seed: (fixture, sigma range, seed).
EXPERT_BOUNDARY = 0.875
EXPERTS = {"high": (WEIGHTS / "learned_wan22_high.safetensors", (EXPERT_BOUNDARY, 1.0), 1),
           "low": (WEIGHTS / "learned_wan22_low.safetensors", (0.0, EXPERT_BOUNDARY), 2)}
CONDITIONS = ("blobs", "stripes")
# channels, latent frames (17 video frames by Wan's 4n + 1 temporal compression), height, width
LATENT_SHAPE = (16, 5, 16, 16)
# Every trained clip moves by one of these (dy, dx) latent pixels per latent frame, wrapping around.
DIRECTIONS = torch.tensor([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def _wave_vectors(lowest: int, highest: int) -> torch.Tensor:
    """Whole-period spatial frequencies (ky, kx cycles per frame height, width), one per +- pair,
    with lowest <= ky^2 + kx^2 <= highest."""
    return torch.tensor([(ky, kx) for ky in range(4) for kx in range(-3, 4)
                         if lowest <= ky * ky + kx * kx <= highest and (ky > 0 or kx > 0)])


# Stripes: one or one and a half periods across the frame, as coarse as blobs (a toy network learns
# that band; it learned finer waves as noise), told apart from blobs by having one wave only.
WAVE_VECTORS = _wave_vectors(1, 2)
# ComfyUI reads these back from the fixture's keys and shapes (comfy.model_detection.detect_unet_config).
WAN_CONFIG = {
    "image_model": "wan2.1", "model_type": "t2v", "dim": 128, "num_heads": 1, "ffn_dim": 512, "num_layers": 3,
    "in_dim": 16, "out_dim": 16, "patch_size": (1, 2, 2), "freq_dim": 256, "window_size": (-1, -1),
    "qk_norm": True, "cross_attn_norm": True, "eps": 1e-6,
}
# A fixed map from a clip's three colour numbers to the 16 latent channels (orthonormal columns,
# scaled to unit channel variance), as a video VAE's encoder correlates its channels.
CHANNEL_MIX = torch.linalg.qr(torch.randn(LATENT_SHAPE[0], 3, generator=torch.Generator().manual_seed(3)))[0] \
    * math.sqrt(LATENT_SHAPE[0] / 3)
# Each class's mean colour (its background: red, green or blue, mixed like every colour). Prompts
# in real data carry such first-order information; zero-mean classes would give a prompt nothing
# to act on at pure noise, where sampling decides the class, and CFG nothing to amplify.
BACKGROUNDS = dict(zip(CONDITIONS, 0.7 * torch.eye(3) @ CHANNEL_MIX.T))
TEXT_TOKENS = 4
TEXT_DIM = 4096  # umT5-XXL's width: WanModel's default, which detection leaves as is
# Adam moves every weight by about the learning rate, so the text projection's 4096 inputs would
# swing its outputs 32 times further per step than a 128-wide layer's: training then shuts the prompt out.
TEXT_LEARNING_RATE_SCALE = {"text_embedding.0.": WAN_CONFIG["dim"] / TEXT_DIM}
# Sigmas are drawn as ComfyUI's Wan2.1 schedule (shift 8) spaces its steps: all of (0, 1], about
# half above 0.9, where the prompt decides what the noise becomes.
TRAINING_SHIFT = 8.0
TRAIN_SEED, HELD_OUT_SEED = 0, 12345
TRAIN_STEPS, BATCH, LEARNING_RATE, DROPOUT, MAX_GRAD_NORM = 3000, 12, 2e-3, 0.1, 1.0


def condition_embeddings() -> dict[str, torch.Tensor]:
    """Fixed text-embedding stand-ins, (1, tokens, 4096) each; the empty prompt is all zeros."""
    generator = torch.Generator().manual_seed(7)
    embeddings = {name: torch.randn(1, TEXT_TOKENS, TEXT_DIM, generator=generator) for name in CONDITIONS}
    return {**embeddings, "": torch.zeros(1, TEXT_TOKENS, TEXT_DIM)}


def sample_clips(condition: str, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean clips of one class (model space, about unit std, (count, *LATENT_SHAPE)) and their
    velocities ((count, 2) as dy, dx): frame t + 1 is frame t rolled by the velocity.

    Content is periodic over the frame, so translation wraps around exactly. Blobs: three smooth
    bumps of either sign. Stripes: one plane wave, moving across its stripes (never along them,
    where motion would be invisible).
    Each clip has one colour, as an RGB video's latent would: three numbers mixed into the 16
    channels by a fixed map (CHANNEL_MIX), on the class's background colour plus a small offset.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"Unknown condition {condition!r}: expected one of {CONDITIONS}.")
    channels, frames, height, width = LATENT_SHAPE
    if condition == "blobs":
        velocity = _directions(count, generator)
        ys, xs = _moving_grid(velocity)
        field = _blobs(ys, xs, generator)
    else:
        wave = WAVE_VECTORS[torch.randint(len(WAVE_VECTORS), (count,), generator=generator)].float()
        velocity = _directions(count, generator, visible_across=wave)
        ys, xs = _moving_grid(velocity)
        field = math.sqrt(2.0) * _plane_wave(ys, xs, wave, generator)
    colour = torch.randn(count, CHANNEL_MIX.shape[1], generator=generator) @ CHANNEL_MIX.T
    offset = BACKGROUNDS[condition].view(1, -1, 1, 1, 1) + 0.3 * torch.randn(count, channels, 1, 1, 1, generator=generator)
    return colour.view(count, channels, 1, 1, 1) * field.unsqueeze(1) + offset, velocity


def held_out_clips(condition: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips and velocities from a seed training never draws from."""
    return sample_clips(condition, count, torch.Generator().manual_seed(HELD_OUT_SEED + CONDITIONS.index(condition)))


def _directions(count, generator, visible_across=None):
    """One of DIRECTIONS per clip; with wave vectors, only directions that move the waves' phase."""
    scores = torch.rand(count, len(DIRECTIONS), generator=generator)
    if visible_across is not None:
        scores = scores.masked_fill(visible_across @ DIRECTIONS.T.float() == 0, -1.0)
    return DIRECTIONS[scores.argmax(1)]


def _moving_grid(velocity):
    """Per clip and frame, the frame-0 positions each pixel shows: (y - vy t, x - vx t), (count, T, H, W)."""
    _, frames, height, width = LATENT_SHAPE
    t = torch.arange(frames, dtype=torch.float32).view(1, -1, 1, 1)
    ys = torch.arange(height, dtype=torch.float32).view(1, 1, -1, 1) - velocity[:, 0].view(-1, 1, 1, 1) * t
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, 1, -1) - velocity[:, 1].view(-1, 1, 1, 1) * t
    return ys, xs


def _blobs(ys, xs, generator, count=3):
    """Periodic Gaussian-like bumps (von Mises), smooth across the wrap, radius 2 to 3.5 latent pixels."""
    _, _, height, width = LATENT_SHAPE
    clips = ys.shape[0]
    field = torch.zeros(torch.broadcast_shapes(ys.shape, xs.shape))
    for _ in range(count):
        cy, cx = torch.rand(2, clips, 1, 1, 1, generator=generator) * torch.tensor([height, width]).view(2, 1, 1, 1, 1)
        radius = 2.0 + 1.5 * torch.rand(clips, 1, 1, 1, generator=generator)
        sign = torch.where(torch.rand(clips, 1, 1, 1, generator=generator) < 0.5, -1.0, 1.0)
        concentration = (height / (2 * math.pi * radius)) ** 2
        closeness = torch.cos(2 * math.pi * (ys - cy) / height) + torch.cos(2 * math.pi * (xs - cx) / width) - 2.0
        field = field + sign * torch.exp(concentration * closeness)
    return 2.8 * (field - field.mean(dim=(-2, -1), keepdim=True))  # zero mean, about unit std like the waves


def _plane_wave(ys, xs, wave, generator):
    """sin(2 pi (ky y / H + kx x / W) + random phase) for each clip's wave vector."""
    _, _, height, width = LATENT_SHAPE
    phase = 2 * math.pi * torch.rand(len(wave), 1, 1, 1, generator=generator)
    ky, kx = wave[:, 0].view(-1, 1, 1, 1), wave[:, 1].view(-1, 1, 1, 1)
    return torch.sin(2 * math.pi * (ky * ys / height + kx * xs / width) + phase)


def colour_class(clips: torch.Tensor) -> list[str]:
    """Each clip's class by its mean colour, the nearest class background: the first-order signature
    a prompt carries, and the part of a class the toy network learns in full (see the module's note)."""
    backgrounds = torch.stack([BACKGROUNDS[c] for c in CONDITIONS])
    nearest = torch.cdist(clips.mean(dim=(2, 3, 4)), backgrounds).argmin(1)
    return [CONDITIONS[index] for index in nearest]


def _shifted(shift, u):
    """ComfyUI's time_snr_shift: the sigma a flow schedule with `shift` puts at uniform time u."""
    return shift * u / (1 + (shift - 1) * u)


def _unshifted(shift, sigma):
    return sigma / (shift - (shift - 1) * sigma)


def training_sigmas(count: int, generator: torch.Generator, sigma_range=(0.0, 1.0)) -> torch.Tensor:
    """Stratified uniform times mapped to sigmas by TRAINING_SHIFT, inside `sigma_range`, in random
    order (a batch is sorted by class, and sorted sigmas would let the noise level tell the class)."""
    low, high = (_unshifted(TRAINING_SHIFT, sigma) for sigma in sigma_range)
    u = (torch.randperm(count, generator=generator) + torch.rand(count, generator=generator)) / count
    return _shifted(TRAINING_SHIFT, low + (high - low) * u).clamp_min(1e-4)


def _initialise_like_wan(model):
    """Wan's own initialisation (ComfyUI skips it, expecting a checkpoint): xavier linears, small
    text and time embeddings, a zero output head, modulation at 1 / sqrt(dim)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            torch.nn.init.zeros_(module.bias)
    torch.nn.init.xavier_uniform_(model.patch_embedding.weight.flatten(1))
    for module in (*model.text_embedding, *model.time_embedding):
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.02)
    torch.nn.init.zeros_(model.head.head.weight)
    for name, parameter in model.named_parameters():
        if name.endswith("modulation"):
            torch.nn.init.normal_(parameter, std=model.dim**-0.5)


def _build_wan():
    from comfy.ldm.wan.model import WanModel

    from .training import TrainableOps

    model = WanModel(**WAN_CONFIG, text_dim=TEXT_DIM, device="cpu", dtype=torch.float32, operations=TrainableOps)
    _initialise_like_wan(model)
    return model


def train(steps: int = TRAIN_STEPS, sigma_range=(0.0, 1.0), seed: int = TRAIN_SEED, log=print) -> dict[str, torch.Tensor]:
    """Trains the flow model on sigmas in `sigma_range`; returns its state dict in ComfyUI's Wan key layout."""
    from .training import deterministic, fit

    with deterministic():
        torch.manual_seed(seed)
        model = _build_wan()
        generator = torch.Generator().manual_seed(seed)
        embeddings = condition_embeddings()
        fit(model, lambda: _batch_loss(model, embeddings, generator, sigma_range), steps, LEARNING_RATE, log,
            MAX_GRAD_NORM, TEXT_LEARNING_RATE_SCALE)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _batch_loss(model, embeddings, generator, sigma_range):
    """Velocity MSE on a fresh batch, equal parts each class, DROPOUT of it under the empty prompt."""
    per_class = BATCH // len(CONDITIONS)
    clean = torch.cat([sample_clips(c, per_class, generator)[0] for c in CONDITIONS])
    context = torch.cat([embeddings[c].expand(per_class, -1, -1) for c in CONDITIONS])
    dropped = torch.rand(len(clean), generator=generator) < DROPOUT
    context = torch.where(dropped.view(-1, 1, 1), embeddings[""], context)
    sigma = training_sigmas(len(clean), generator, sigma_range)
    noise = torch.randn(clean.shape, generator=generator)
    noisy = (1 - sigma.view(-1, 1, 1, 1, 1)) * clean + sigma.view(-1, 1, 1, 1, 1) * noise
    return torch.nn.functional.mse_loss(model(noisy, sigma * 1000, context), noise - clean)


def train_experts(steps: int = TRAIN_STEPS // 2, log=print) -> dict[str, Path]:
    """Trains and writes the Wan2.2-style pair; the two together cost what the single model does."""
    return {name: write_fixture(train(steps, sigma_range, seed, log), path)
            for name, (path, sigma_range, seed) in EXPERTS.items()}


def write_fixture(state_dict: dict[str, torch.Tensor], path: Path = FIXTURE) -> Path:
    from .training import write_fp16

    conditions = {f"rewind_condition.{name or 'empty'}": value for name, value in condition_embeddings().items()}
    return write_fp16(state_dict, conditions, path, "learned wan2.1-architecture flow model")


def load_learned_wan(path: Path = FIXTURE, dtype: torch.dtype | None = torch.float32):
    """The fixture as a ComfyUI MODEL (ModelPatcher) plus {condition: CONDITIONING}, '' the empty
    prompt. fp32 by default, so roundtrip figures are the sampler's, not fp16 rounding's; None
    leaves the dtype to ComfyUI as UNETLoader does."""
    import comfy.sd
    import comfy.utils

    state_dict = comfy.utils.load_torch_file(str(path))
    conditions = {key.split(".", 1)[1]: state_dict.pop(key) for key in list(state_dict) if key.startswith("rewind_condition.")}
    patcher = comfy.sd.load_diffusion_model_state_dict(state_dict, model_options={} if dtype is None else {"dtype": dtype})
    patcher.model.requires_grad_(False)  # ComfyUI's executor runs under inference_mode; tests and benches call nodes directly
    conditioning = {("" if name == "empty" else name): [[value.float(), {}]] for name, value in conditions.items()}
    return patcher, conditioning


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from comfy_env import import_comfyui

    import_comfyui(cpu=True)
    from rewind.testbed import learned_wan  # the package's module, whose relative imports resolve

    if sys.argv[1:] == ["experts"]:  # python testbed/learned_wan.py experts: rewrites the Wan2.2-style pair
        print(f"wrote {', '.join(str(path) for path in learned_wan.train_experts().values())}")
    else:
        steps = int(sys.argv[1]) if len(sys.argv) > 1 else TRAIN_STEPS
        print(f"wrote {learned_wan.write_fixture(learned_wan.train(steps))}")
