"""Rewind's context windows against the ComfyUI surface they rely on, in older and newer shapes.

Rewind owns its window evaluation. From ComfyUI it uses the `context_handler` slot of
`calc_cond_batch`, the PREPARE_SAMPLING wrapper and the ON_CLEANUP callback. These tests pin that
surface on the installed ComfyUI (0.3.64 or 0.3.75) and run the pack with a `comfy.context_windows`
shaped like current upstream's (testbed/newer_core.py), where Rewind's old subclasses crashed (issue 12).
"""
from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.samplers.context import ContextOptions, plan_context
from rewind.testbed import newer_core
from rewind.testbed.analytic import analytic_patcher, run_sampler
from rewind.testbed.comfy_env import run_core


@pytest.fixture
def newer_core_windows(comfy, monkeypatch):
    """The stand-in installed as `comfy.context_windows` and the pack's context handler (and the sampling
    nodes that install it) re-imported under it."""
    import comfy as comfy_package

    from rewind.comfy_glue import context_handler
    from rewind.nodes import sampling

    stand_in = newer_core.module()
    newer_core.constructed.clear()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "comfy.context_windows", stand_in)
        patch.setattr(comfy_package, "context_windows", stand_in)
        importlib.reload(context_handler)
        yield importlib.reload(sampling)
    importlib.reload(context_handler)
    importlib.reload(sampling)


def window_recorder(model):
    """A clone of `model` whose CALC_COND_BATCH wrapper (the hook caches such as EasyCache use) logs each call."""
    import comfy.patcher_extension

    calls = []

    def record(executor, model, conds, x_in, timestep, model_options):
        window = model_options["transformer_options"].get("context_window")
        calls.append((tuple(window.index_list) if window else None, x_in.shape))
        return executor(model, conds, x_in, timestep, model_options)

    clone = model.clone()
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "test_recorder", record)
    return clone, calls


def reference_roundtrip(model_type, latent, context_options=None, core_windows=None):
    """Rewind's unsample -> resample on the exact reference model; `core_windows` (model -> model) first
    applies a core context-window node, as a user chaining one before Rewind's nodes would."""
    from rewind.nodes import diagnostics, sampling

    model, _, cond, _ = diagnostics.RewindReferenceModel.execute(model_type, "mixture").result
    model, calls = window_recorder(model)
    if core_windows is not None:
        model = core_windows(model)
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, 6, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, {"samples": latent}, 1.0, sigmas, "exact", 4,
                                             context_options).result[0]
    out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler", None, context_options).result[0]
    return out["samples"], calls


def encoded_clips(model_type, frames, clips):
    from rewind.nodes import diagnostics

    vae = diagnostics.RewindReferenceModel.execute(model_type, "mixture").result[1]
    generator = torch.Generator().manual_seed(4)
    return torch.cat([vae.encode(torch.rand(frames, 32, 32, 3, generator=generator)) for _ in range(clips)])


@pytest.mark.parametrize("model_type, frames, clips, options, axis", [
    ("SD1.5", 20, 1, ContextOptions(length=8, overlap=3, fuse_method="overlap-linear"), 0),
    ("Wan2.1", 41, 2, ContextOptions(length=17, overlap=4), 2),  # batch of 2 clips, 11 latent frames, windows of 5
])
def test_windowed_roundtrip_runs_under_newer_core_context_windows(newer_core_windows, model_type, frames, clips, options, axis):
    with pytest.raises(ZeroDivisionError):  # the stand-in is faithful: a window built the 0.3.x way fails as in issue 12
        sys.modules["comfy.context_windows"].IndexListContextWindow([0, 1, 2], dim=0)
    newer_core.constructed.clear()
    latent = encoded_clips(model_type, frames, clips)
    whole, whole_calls = reference_roundtrip(model_type, latent)
    out, calls = reference_roundtrip(model_type, latent, options)

    assert torch.linalg.norm(out - whole) <= 1e-5 * torch.linalg.norm(whole)
    assert not newer_core.constructed, "Rewind built core's windows or handlers"
    assert {window for window, _ in whole_calls} == {None}
    plan = plan_context(latent.shape[axis], options, 4 if axis else 1)  # Wan2.1: 4 pixel frames per latent frame
    assert {window for window, _ in calls} == set(plan.windows), "CALC_COND_BATCH wrappers see one window per call"
    assert all(shape[axis] == len(window) and shape[0] == (clips if axis else len(window)) for window, shape in calls)


def test_core_hands_model_calls_to_the_context_handler_slot(comfy):
    """The one core protocol the windows rely on: should_use_context(...) then execute(calc_cond_batch, ...)."""
    import comfy.model_base

    from rewind.comfy_glue.context_handler import apply_context_windows

    patcher = apply_context_windows(analytic_patcher(comfy), ContextOptions(length=8, overlap=2))
    handler = patcher.model_options["context_handler"]
    asked, executed = [], []
    should_use_context, execute = handler.should_use_context, handler.execute

    def record_question(model, conds, x_in, timestep, model_options):
        asked.append((model, x_in.shape))
        return should_use_context(model, conds, x_in, timestep, model_options)

    def record_execute(calc_cond_batch, model, conds, x_in, timestep, model_options):
        executed.append((calc_cond_batch, model, conds, x_in.shape, timestep, model_options))
        return execute(calc_cond_batch, model, conds, x_in, timestep, model_options)

    handler.should_use_context, handler.execute = record_question, record_execute
    run_sampler(patcher, torch.randn(12, 4, 8, 8), "euler")

    assert len(asked) == len(executed) == 4  # one model evaluation per euler step
    for calc_cond_batch, model, conds, shape, timestep, model_options in executed:
        assert callable(calc_cond_batch) and isinstance(model, comfy.model_base.BaseModel)
        assert shape == (12, 4, 8, 8) and timestep.shape == (12,)
        assert isinstance(conds, list) and all(c is None or isinstance(c, list) for c in conds)
        assert isinstance(model_options.get("transformer_options"), dict)


@pytest.mark.parametrize("newer_keywords", [{}, {"force_full_load": False, "force_offload": False}])
def test_memory_budget_wrapper_takes_old_and_new_prepare_sampling_calls(comfy, newer_keywords):
    from rewind.comfy_glue.context_handler import RewindContextHandler, _prepare_sampling_for_one_window

    handler = RewindContextHandler(ContextOptions(length=8, overlap=2), frame_axis=0, temporal_compression=1)
    prepared = []

    def executor(model, noise_shape, conds, **kwargs):
        prepared.append((noise_shape, conds, kwargs))
        return "prepared"

    model = types.SimpleNamespace(load_device=torch.device("cpu"))
    conds = {"positive": []}
    result = _prepare_sampling_for_one_window(handler, executor, model, (20, 4, 8, 8), conds, model_options={}, **newer_keywords)
    assert result == "prepared"
    assert prepared == [([8, 4, 8, 8], conds, {"model_options": {}, **newer_keywords})]


@pytest.mark.parametrize("model_type, frames, core_windows, options", [
    ("SD1.5", 20, lambda model: newer_core.context_windows_manual(model, 8, 2, dim=0, freenoise=True),
     ContextOptions(length=8, overlap=3)),
    ("Wan2.1", 41, newer_core.wan_context_windows, ContextOptions(length=17, overlap=4)),  # FreeNoise on by default
])
def test_rewind_windows_replace_core_windows_with_freenoise_chained_before(comfy, caplog, model_type, frames,
                                                                           core_windows, options):
    """A core context-window node upstream of Rewind's nodes leaves its wrappers on the model; current
    core's FreeNoise wrapper reads `handler.freenoise` on every run, where Rewind's handler now sits.
    Rewind's windows take over, core's wrappers are removed for Rewind's passes, and the user is told."""
    latent = encoded_clips(model_type, frames, 1)
    alone, _ = reference_roundtrip(model_type, latent, options)
    newer_core.ran.clear()
    chained, calls = reference_roundtrip(model_type, latent, options, core_windows)

    assert torch.equal(chained, alone), "Rewind's windows, exactly as without the core node"
    assert not newer_core.ran, f"core's wrappers ran inside Rewind's passes: {dict(newer_core.ran)}"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "context windows" in r.getMessage()]
    assert len(warnings) == 2 and {w.split(":")[0] for w in warnings} == {"RewindUnsampler", "RewindResampler"}
    assert "Context Windows (Manual)" in warnings[0] and "Rewind Context Options" in warnings[0]


def test_core_window_wrappers_are_removed_from_rewind_s_clone_only(comfy):
    """The real core node (0.3.52-0.3.75: PREPARE_SAMPLING only) and upstream's FreeNoise wrapper."""
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    from rewind.comfy_glue.context_handler import RewindContextHandler, apply_context_windows, core_windows_note

    core = newer_core.with_freenoise(run_core(ContextWindowsManualNode, analytic_patcher(comfy), 8, 2, "standard_static",
                                              1, False, "pyramid", 0)[0])
    keys = [(newer_core.PREPARE_SAMPLING, newer_core.PREPARE_SAMPLING_KEY), (newer_core.SAMPLER_SAMPLE, newer_core.SAMPLER_SAMPLE_KEY)]
    windowed = apply_context_windows(core, ContextOptions(length=8, overlap=2))

    assert isinstance(windowed.model_options["context_handler"], RewindContextHandler)
    assert all(windowed.get_wrappers(kind, key) == [] for kind, key in keys)
    assert all(len(core.get_wrappers(kind, key)) == 1 for kind, key in keys), "the user's model keeps core's windows"
    assert core_windows_note(core) is not None
    assert core_windows_note(windowed) is None and core_windows_note(analytic_patcher(comfy)) is None


def test_rewind_handler_carries_what_core_wrappers_read(comfy):
    """A core wrapper left on the model (say, added after Rewind's clone) finds FreeNoise off and one window."""
    from rewind.comfy_glue.context_handler import RewindContextHandler

    handler = RewindContextHandler(ContextOptions(length=17, overlap=4), frame_axis=2, temporal_compression=4)
    assert handler.freenoise is False
    assert (handler.dim, handler.context_length, handler.context_overlap) == (2, 5, 1)
    prepared = []
    newer_core._prepare_sampling_wrapper(lambda model, shape, conds, **kwargs: prepared.append(shape), None,
                                         (1, 16, 11, 8, 8), {}, model_options={"context_handler": handler})
    noise = torch.randn(1, 16, 11, 8, 8)
    passed = []
    newer_core._sampler_sample_wrapper(lambda guider, sigmas, extra_args, callback, noise: passed.append(noise), None,
                                       None, {"model_options": {"context_handler": handler}, "seed": 0}, None, noise.clone())
    assert prepared == [[1, 16, 5, 8, 8]] and torch.equal(passed[0], noise)
