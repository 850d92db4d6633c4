"""The up-front "does it fit" checks count free memory as ComfyUI does: on the model's accelerator through
the model where the ModelPatcher counts it (0.12+; under dynamic VRAM, default since 0.16, that includes
the weights core would evict), else the device's free memory (0.3.x, and host memory everywhere)."""
from __future__ import annotations

import pytest
import torch

from rewind.samplers.context import ContextOptions
from rewind.testbed import newer_core
from rewind.testbed.analytic import analytic_patcher

KIB, GIB = 1024, 1024**3


@pytest.fixture
def torch_free(comfy, monkeypatch):
    """Sets what torch (comfy.model_management.get_free_memory) reports free, in bytes."""
    import comfy.model_management

    def set_free(free_bytes: int):
        monkeypatch.setattr(comfy.model_management, "get_free_memory", lambda dev=None, torch_free_too=False: free_bytes)

    return set_free


def test_free_memory_asks_the_model_about_its_accelerator_and_the_host_about_host_memory(comfy, torch_free):
    """Upstream's count on the CPU adds the first GPU's evictable VRAM, which is no host memory."""
    from rewind.comfy_glue.memory import free_memory

    torch_free(64 * KIB)
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert free_memory(analytic_patcher(comfy), gpu) == 64 * KIB  # 0.3.x: no count of its own
    counting = newer_core.counting_free_memory(analytic_patcher(comfy), GIB)
    assert free_memory(counting, gpu) == GIB and free_memory(counting, cpu) == 64 * KIB


def test_a_float16_latent_s_trajectory_is_counted_at_float32(comfy, torch_free):
    """The loop widens a float16 LATENT (--fp16-intermediates) and keeps its states in float32."""
    from rewind.comfy_glue.sampler import ensure_trajectory_fits

    model, path = analytic_patcher(comfy), [0.0, 1.0, 14.6]
    torch_free(3 * 4 * KIB)  # three float32 states of 1024 elements, no more
    ensure_trajectory_fits(model, torch.zeros(1024, dtype=torch.float16), path)
    with pytest.raises(MemoryError, match="2 steps keep 3 copies"):
        ensure_trajectory_fits(model, torch.zeros(1025, dtype=torch.float16), path)


def test_a_clip_the_model_counts_room_for_is_not_refused(comfy, torch_free):
    """Windowed sampling checks the clip's state against the model's device before ComfyUI loads the model."""
    from rewind.comfy_glue.context_handler import MIN_STATE_COPIES, RewindContextHandler, _prepare_sampling_for_one_window

    handler = RewindContextHandler(ContextOptions(length=8, overlap=2), frame_axis=0, temporal_compression=1)
    prepared = []

    def prepare(model, noise_shape, conds, **kwargs):
        prepared.append(noise_shape)

    torch_free(10 * KIB * MIN_STATE_COPIES)  # 10 frames of 1 KiB, by torch's count
    patcher = analytic_patcher(comfy)
    patcher.load_device = torch.device("cuda", 0)  # never sampled on: only the check reads it
    with pytest.raises(MemoryError, match="at most 10 frames fit"):
        _prepare_sampling_for_one_window(handler, prepare, patcher, (20, 4, 8, 8), {}, model_options={})
    newer_core.counting_free_memory(patcher, GIB)
    _prepare_sampling_for_one_window(handler, prepare, patcher, (20, 4, 8, 8), {}, model_options={})
    assert prepared == [[8, 4, 8, 8]]
