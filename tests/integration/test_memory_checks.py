"""The up-front "does it fit" checks count free memory as ComfyUI does: through the model where the
ModelPatcher counts it (0.12+; under dynamic VRAM, default since 0.16, that includes the weights core
would evict), else the device's free memory (0.3.x)."""
from __future__ import annotations

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.samplers.context import ContextOptions
from rewind.testbed import newer_core
from rewind.testbed.analytic import analytic_patcher, run_sampler

KIB, GIB = 1024, 1024**3


@pytest.fixture
def torch_free(comfy, monkeypatch):
    """Sets what torch (comfy.model_management.get_free_memory) reports free, in bytes."""
    import comfy.model_management

    def set_free(free_bytes: int):
        monkeypatch.setattr(comfy.model_management, "get_free_memory", lambda dev=None, torch_free_too=False: free_bytes)

    return set_free


def test_free_memory_asks_the_model_where_it_counts_and_the_device_otherwise(comfy, torch_free):
    from rewind.comfy_glue.memory import free_memory

    torch_free(64 * KIB)
    assert free_memory(analytic_patcher(comfy), torch.device("cpu")) == 64 * KIB
    assert free_memory(newer_core.counting_free_memory(analytic_patcher(comfy), GIB), torch.device("cpu")) == GIB


def test_a_trajectory_the_model_counts_room_for_is_not_refused(torch_free):
    from rewind.nodes import diagnostics, sampling

    model, vae, cond, _ = diagnostics.RewindReferenceModel.execute("SD1.5", "mixture").result
    latent = {"samples": vae.encode(torch.rand(4, 32, 32, 3, generator=torch.Generator().manual_seed(1)))}
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES["SD1.5"].ays_option, 200, 1.0).result[0]
    torch_free(64 * KIB)  # 201 states of 4 KiB do not fit in what torch reports
    with pytest.raises(MemoryError, match="200 steps keep 201 copies"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler")
    model = newer_core.counting_free_memory(model.clone(), GIB)
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler").result[0]
    assert torch.isfinite(noise["samples"]).all()


def test_a_float16_latent_s_trajectory_is_counted_at_float32(comfy, torch_free):
    """The loop widens a float16 LATENT (--fp16-intermediates) and keeps its states in float32."""
    from rewind.comfy_glue.sampler import ensure_trajectory_fits

    model, path = analytic_patcher(comfy), [0.0, 1.0, 14.6]
    torch_free(3 * 4 * KIB)  # three float32 states of 1024 elements, no more
    ensure_trajectory_fits(model, torch.zeros(1024, dtype=torch.float16), path)
    with pytest.raises(MemoryError, match="2 steps keep 3 copies"):
        ensure_trajectory_fits(model, torch.zeros(1025, dtype=torch.float16), path)


def test_a_clip_the_model_counts_room_for_runs_in_windows(comfy, torch_free):
    from rewind.comfy_glue.context_handler import MIN_STATE_COPIES, apply_context_windows

    torch_free(10 * KIB * MIN_STATE_COPIES)  # 10 frames of 1 KiB, by torch's count
    patcher = apply_context_windows(analytic_patcher(comfy), ContextOptions(length=8, overlap=2))
    with pytest.raises(MemoryError, match="at most 10 frames fit"):
        run_sampler(patcher, torch.zeros(20, 4, 8, 8), "euler")
    patcher = apply_context_windows(newer_core.counting_free_memory(analytic_patcher(comfy), GIB),
                                    ContextOptions(length=8, overlap=2))
    out = run_sampler(patcher, torch.zeros(20, 4, 8, 8), "euler")
    assert out.shape == (20, 4, 8, 8) and patcher.model.diffusion_model.windows_seen
