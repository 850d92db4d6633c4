"""Rewind's context handler inside ComfyUI's sampling path (in-process ComfyUI, CPU)."""
from __future__ import annotations

import pytest
import torch

from rewind.samplers.context import LAYOUT_TEMPORAL, ContextOptions, plan_context
from rewind.testbed.analytic import analytic_patcher, run_sampler


@pytest.mark.parametrize("sampler_name", ["euler", "heun"])
def test_handler_windows_calc_cond_batch_and_matches_whole_clip(comfy, sampler_name):
    from rewind.comfy_glue.context_handler import apply_context_windows

    options = ContextOptions(length=8, overlap=3, fuse_method="pyramid")
    latent = torch.randn(20, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 14.6
    plain = analytic_patcher(comfy)
    expected = run_sampler(plain, latent, sampler_name)

    windowed = apply_context_windows(analytic_patcher(comfy), options)
    got = run_sampler(windowed, latent, sampler_name)

    assert torch.linalg.norm(got - expected) <= 1e-5 * torch.linalg.norm(expected)
    seen = windowed.model.diffusion_model.windows_seen
    plan = plan_context(20, options, 1)
    sigmas = sorted({sigma for _, sigma in seen})
    if sampler_name == "heun":
        assert len(sigmas) >= 4  # heun evaluates off the schedule: core's handler raises there
    for sigma in sigmas:
        windows = [window for window, s in seen if s == sigma]
        assert set(windows) == set(plan.windows), f"windows changed at sigma {sigma}"
        assert all(len(w) <= 8 for w in windows)


def test_handler_uses_temporal_axis_for_wan_latents(comfy):
    from rewind.comfy_glue.context_handler import apply_context_windows

    options = ContextOptions(length=17, overlap=4)  # 5 latent frames, overlap 1
    patcher = apply_context_windows(analytic_patcher(comfy, latent_dimensions=3), options)
    handler = patcher.model_options["context_handler"]
    assert (handler.dim, handler.context_length, handler.context_overlap) == (2, 5, 1)
    latent = torch.randn(1, 16, 11, 4, 4, generator=torch.Generator().manual_seed(2))
    expected = run_sampler(analytic_patcher(comfy, latent_dimensions=3), latent, "euler")
    got = run_sampler(patcher, latent, "euler")
    assert torch.linalg.norm(got - expected) <= 1e-5 * torch.linalg.norm(expected)
    seen = {w for w, _ in patcher.model.diffusion_model.windows_seen}
    assert seen == set(plan_context(11, ContextOptions(length=17, overlap=4, layout=LAYOUT_TEMPORAL), 4).windows)


def test_per_frame_conds_and_controlnet_hints_are_sliced_per_window(comfy):
    import comfy.conds
    import comfy.controlnet
    from rewind.comfy_glue.context_handler import RewindContextHandler

    handler = RewindContextHandler(ContextOptions(length=4, overlap=1), frame_axis=0, temporal_compression=1)
    x = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 4, 2, 2)
    per_frame = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 4, 2, 2)
    shared = torch.ones(1, 77, 8)
    control = comfy.controlnet.ControlNet(control_model=torch.nn.Identity())
    control.set_cond_hint(torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 3, 16, 16))
    control.set_previous_controlnet(comfy.controlnet.ControlNet(control_model=torch.nn.Identity()).set_cond_hint(torch.ones(1, 3, 16, 16)))
    cond = {"model_conds": {"c_concat": comfy.conds.CONDNoiseShape(per_frame), "c_crossattn": comfy.conds.CONDCrossAttn(shared)},
            "mask": torch.arange(10.0).reshape(10, 1, 1).expand(10, 2, 2), "control": control}
    windows = []

    def record(model, conds, x_window, timestep, model_options):
        window = model_options["transformer_options"]["context_window"]
        sliced = conds[0][0]
        windows.append((window.index_list, x_window[:, 0, 0, 0].tolist(), timestep.tolist(), sliced))
        return [torch.zeros_like(x_window) if c is None else x_window.clone() for c in conds]

    out = handler.execute(record, None, [[cond], None], x, torch.arange(10.0), {"transformer_options": {"sample_sigmas": None}})

    assert [w for w, *_ in windows] == [list(w) for w in plan_context(10, handler.options, 1).windows]
    for index_list, x_frames, sigmas, sliced in windows:
        assert x_frames == sigmas == index_list
        assert sliced["model_conds"]["c_concat"].cond[:, 0, 0, 0].tolist() == index_list
        assert sliced["model_conds"]["c_crossattn"].cond is shared, "per-clip conds are passed whole"
        assert sliced["mask"][:, 0, 0].tolist() == index_list
        assert sliced["control"].cond_hint_original[:, 0, 0, 0].tolist() == index_list
        assert sliced["control"].previous_controlnet is control.previous_controlnet, "a one-image hint is shared"
    assert torch.equal(out[0], x) and torch.equal(out[1], torch.zeros_like(x)), "fused per cond, weights sum to one"
    assert control.cond_hint_original.shape[0] == 10, "the user's ControlNet is left untouched"
    first_run = [sliced["control"] for *_, sliced in windows]
    windows.clear()
    handler.execute(record, None, [[cond]], x, torch.arange(10.0), {})
    assert [sliced["control"] for *_, sliced in windows] == first_run, "per-window views are made once and reused"
    handler.forget_window_controls()
    windows.clear()
    handler.execute(record, None, [[cond]], x, torch.arange(10.0), {})
    assert windows[0][3]["control"] is not first_run[0]


def test_a_model_that_slices_its_own_conds_slices_them_in_rewind_windows(comfy):
    """ComfyUI 0.18+ asks the model first (Wan VACE's vace_context has time on axis 3, S2V audio on axis 1);
    what the model leaves (None) is sliced as before."""
    import comfy.conds

    from rewind.comfy_glue.context_handler import RewindContextHandler
    from rewind.testbed import newer_core

    handler = RewindContextHandler(ContextOptions(length=17, overlap=4), frame_axis=2, temporal_compression=4)  # 5 latent frames, overlap 1
    x = torch.zeros(1, 16, 11, 4, 4)
    vace = torch.arange(11.0).reshape(1, 1, 1, 11, 1, 1).expand(1, 2, 3, 11, 4, 4)
    concat = torch.arange(11.0).reshape(1, 1, 11, 1, 1).expand(1, 16, 11, 4, 4)
    cond = {"model_conds": {"vace_context": comfy.conds.CONDRegular(vace), "c_concat": comfy.conds.CONDNoiseShape(concat)}}
    model = newer_core.VaceModel()
    windows = []

    def record(model, conds, x_window, timestep, model_options):
        windows.append((model_options["transformer_options"]["context_window"], conds[0][0]["model_conds"]))
        return [x_window.clone()]

    handler.execute(record, model, [[cond]], x, torch.ones(1), {"transformer_options": {}})

    assert [w.index_list for w, _ in windows] == [list(w) for w in plan_context(11, handler.options, 4).windows]
    for window, sliced in windows:
        assert sliced["vace_context"].cond[0, 0, 0, :, 0, 0].tolist() == window.index_list
        assert sliced["c_concat"].cond[0, 0, :, 0, 0].tolist() == window.index_list
    assert set(model.asked) == {"vace_context", "c_concat"}
    window = windows[1][0]
    kept_first = window.get_tensor(vace, dim=3, retain_index_list=[0])  # upstream's retain: frame 0 kept in place
    assert kept_first[0, 0, 0, :, 0, 0].tolist() == [0.0, *window.index_list[1:]]


def test_multigpu_device_copies_of_a_controlnet_see_the_window_s_hint_frames(comfy):
    """Core's multi-GPU path (0.23+) runs `control.get_instance_for_device(device)` on each GPU: the window's
    view must hand out views of the per-device copies, chains included, not the copies with every frame."""
    import comfy.controlnet

    from rewind.comfy_glue.context_handler import control_for_frames
    from rewind.testbed import newer_core

    def control(hint_frames):
        hint = torch.arange(float(hint_frames)).reshape(hint_frames, 1, 1, 1).expand(hint_frames, 3, 16, 16)
        return comfy.controlnet.ControlNet(control_model=torch.nn.Identity()).set_cond_hint(hint)

    def frames(control):
        return control.cond_hint_original[:, 0, 0, 0].tolist()

    second_gpu, third_gpu = torch.device("cuda", 1), torch.device("cuda", 2)
    top = newer_core.with_device_clones(control(10).set_previous_controlnet(control(10)), [second_gpu, third_gpu])
    view = control_for_frames(top, (2, 3, 4, 5), 10)

    assert view.get_instance_for_device(torch.device("cuda", 0)) is view
    for device in (second_gpu, third_gpu):
        device_view = view.get_instance_for_device(device)
        assert device_view is not top.multigpu_clones[device]
        assert frames(device_view) == frames(device_view.previous_controlnet) == [2, 3, 4, 5]
        assert device_view.previous_controlnet is view.previous_controlnet.get_instance_for_device(device)
        assert frames(top.multigpu_clones[device]) == list(range(10)), "the user's device copies keep every frame"


class HintRecorder(torch.nn.Module):
    """A control model (ControlNet or T2I adapter) that logs which frames' hints it was given."""

    unshuffle_amount = 1  # T2I adapters round the hint size to this

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.dtype = torch.float32
        self.hint_frames: list[tuple[int, ...]] = []

    def forward(self, *args, hint=None, **kwargs):  # ControlNet: (x=, hint=, ...); T2I adapter: (hint)
        hint = args[0] if hint is None else hint
        self.hint_frames.append(tuple(int(v) for v in hint[:, 0, 0, 0].round()))
        return {"middle": [torch.zeros(1)]}


@pytest.mark.parametrize("kind", ["controlnet", "t2i_adapter"])
def test_controls_run_each_window_on_its_own_hint_frames(comfy, kind):
    """Real ControlNet/T2I adapter objects through sampling: the per-window views keep what pre_run set
    up (the ControlNet's model sampling) and rebuild their hint caches from the window's frames."""
    import comfy.controlnet
    import comfy.sample
    import comfy.samplers

    from rewind.comfy_glue.context_handler import apply_context_windows

    recorder = HintRecorder()
    cpu = torch.device("cpu")
    control = (comfy.controlnet.ControlNet(recorder, load_device=cpu) if kind == "controlnet"
               else comfy.controlnet.T2IAdapter(recorder, 3, 8, "nearest-exact", device=cpu))
    control.set_cond_hint(torch.arange(12.0).reshape(12, 1, 1, 1).expand(12, 3, 64, 64))
    options = ContextOptions(length=5, overlap=2)
    patcher = apply_context_windows(analytic_patcher(comfy), options)
    positive = [[torch.zeros(1, 4, 8), {"control": control}]]
    comfy.sample.sample_custom(patcher, torch.randn(12, 4, 8, 8), 1.0, comfy.samplers.ksampler("euler"),
                               torch.tensor([14.6, 2.0, 0.0]), positive, positive, torch.zeros(12, 4, 8, 8),
                               disable_pbar=True, seed=0)
    windows = list(plan_context(12, options, 1).windows)
    # ControlNet runs every window at every step; a T2I adapter computes each window's features once
    assert recorder.hint_frames == (windows * 2 if kind == "controlnet" else windows)


def test_sampling_cleanup_drops_per_window_controlnet_views(comfy):
    from rewind.comfy_glue.context_handler import apply_context_windows

    patcher = apply_context_windows(analytic_patcher(comfy), ContextOptions(length=8, overlap=2))
    handler = patcher.model_options["context_handler"]
    control = torch.nn.Identity()  # stands in for a ControlNet with cached per-window views
    handler._window_controls[control] = {}
    assert len(handler._window_controls) == 1
    run_sampler(patcher, torch.randn(12, 4, 8, 8), "euler")
    assert len(handler._window_controls) == 0


def test_layout_mismatch_is_explained(comfy):
    from rewind.comfy_glue.context_handler import RewindContextHandler

    handler = RewindContextHandler(ContextOptions(layout=LAYOUT_TEMPORAL), frame_axis=2, temporal_compression=4)
    with pytest.raises(ValueError, match="layout"):
        handler.should_use_context(None, [], torch.zeros(16, 4, 8, 8), torch.ones(16), {})


def test_clip_too_long_for_memory_says_how_many_frames_fit(comfy, monkeypatch):
    import comfy.model_management

    from rewind.comfy_glue.context_handler import MIN_STATE_COPIES, apply_context_windows, ensure_clip_fits

    monkeypatch.setattr(comfy.model_management, "get_free_memory", lambda device=None: 100 * 1024 * 4)
    patcher = apply_context_windows(analytic_patcher(comfy), ContextOptions(length=8, overlap=2))
    with pytest.raises(MemoryError, match="at most 100 frames fit"):
        ensure_clip_fits(patcher, (256, 4, 8, 8), 4, state_copies=4, frame_axis=0)  # 1 KiB per frame
    ensure_clip_fits(patcher, (100, 4, 8, 8), 4, state_copies=4, frame_axis=0)

    monkeypatch.setattr(comfy.model_management, "get_free_memory", lambda device=None: 10 * 1024 * MIN_STATE_COPIES)
    with pytest.raises(MemoryError, match="at most 10 frames fit"):
        run_sampler(patcher, torch.zeros(20, 4, 8, 8), "euler")  # 1 KiB per frame: fails before any model call
    assert patcher.model.diffusion_model.windows_seen == []


def test_preview_renders_windows_as_rows(comfy):
    from rewind.nodes.context import RewindContextOptions, RewindContextPreview

    options = RewindContextOptions.execute("static", 16, 4, 1, False, "pyramid", "auto").result[0]
    image = RewindContextPreview.execute(options, 40).result[0]
    plan = plan_context(40, options, 1)
    assert image.ndim == 4 and image.shape[-1] == 3
    assert image.shape[1] == 12 * len(plan.windows)
    assert image.shape[2] == 40 * (1024 // 40)
    assert 0.0 <= image.min() and image.max() <= 1.0
