"""Context windows and coherence through Rewind Unsampler/Resampler on ComfyUI's exact reference models."""
from __future__ import annotations

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.samplers.context import ContextOptions


@pytest.fixture(scope="module")
def nodes(comfy):
    from rewind.comfy_glue import context_handler
    from rewind.nodes import context, diagnostics, sampling

    return sampling, diagnostics, context, context_handler


def clip(nodes, model_type, frames):
    _, diagnostics, _, _ = nodes
    model, vae, cond, _ = diagnostics.RewindReferenceModel.execute(model_type, "mixture").result
    pixels = torch.rand(frames, 32, 32, 3, generator=torch.Generator().manual_seed(4))
    return model, cond, {"samples": vae.encode(pixels)}


def roundtrip(nodes, model_type, frames, context_options=None, coherence=None, solver="exact"):
    sampling, _, _, _ = nodes
    model, cond, latent = clip(nodes, model_type, frames)
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, 6, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, solver, 4, context_options).result[0]
    out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler", None, context_options,
                                          coherence).result[0]
    return latent["samples"], noise["samples"], out["samples"]


@pytest.mark.parametrize("solver", ["exact", "bdia"])
@pytest.mark.parametrize("model_type, frames, options", [
    ("SD1.5", 20, ContextOptions(length=8, overlap=3, fuse_method="overlap-linear")),
    ("Wan2.1", 41, ContextOptions(length=17, overlap=4)),  # 11 latent frames, windows of 5
])
def test_windowed_unsample_resample_matches_whole_clip(nodes, model_type, frames, options, solver, monkeypatch):
    _, _, _, context_handler = nodes
    windowed_calls = []
    execute = context_handler.RewindContextHandler.execute
    monkeypatch.setattr(context_handler.RewindContextHandler, "execute",
                        lambda self, *args: windowed_calls.append(1) or execute(self, *args))
    source, whole_noise, whole = roundtrip(nodes, model_type, frames, solver=solver)
    assert not windowed_calls
    _, noise, out = roundtrip(nodes, model_type, frames, options, solver=solver)
    assert windowed_calls, "the model never ran in windows"
    assert torch.linalg.norm(noise - whole_noise) <= 1e-5 * torch.linalg.norm(whole_noise)
    assert torch.linalg.norm(out - whole) <= 1e-5 * torch.linalg.norm(whole)


def test_resampler_runs_coherence_hook(nodes):
    _, _, context, _ = nodes
    coherence = context.RewindLatentCoherence.execute("temporal", 0.9, 0.0, 1.0, 0.0).result[0]
    _, _, plain = roundtrip(nodes, "SD1.5", 8)
    _, _, guided = roundtrip(nodes, "SD1.5", 8, coherence=coherence)
    assert guided.diff(dim=0).abs().mean() < 0.5 * plain.diff(dim=0).abs().mean()
