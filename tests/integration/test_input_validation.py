"""Integration tests: every numeric and choice input of the sampling, schedule, context and
diagnostics nodes is checked by the pack itself (ComfyUI 0.3.75 lets NaN, linked values and V3
combo values through), and non-finite tensors or reshaped latents are refused with the cause."""
import math
import subprocess
import sys

import pytest
import torch

from rewind.testbed import REPO_ROOT
from rewind.testbed.comfy_env import run_core  # core nodes are V1 on 0.3.52/0.3.64, V3 on 0.3.75


@pytest.fixture(scope="module")
def modules(comfy):
    from rewind.comfy_glue.api import io
    from rewind.nodes import checked, context, diagnostics, sampling

    return io, sampling, context, diagnostics, checked


def widget_cases(io, nodes):
    """(node, input, bad value) for every widget input of every node."""
    for node in nodes:
        for spec in node.define_schema().inputs:
            if isinstance(spec, io.Float.Input):
                bad = [math.nan, math.inf, -math.inf, spec.max + 1.0, spec.min - 1.0, "0.5"]
            elif isinstance(spec, io.Int.Input):
                bad = [spec.max + 1, spec.min - 1, 2.5]
            elif isinstance(spec, io.Combo.Input):
                bad = ["bogus", None if None in spec.options else 0]
            elif isinstance(spec, io.Boolean.Input):
                bad = ["yes"]
            else:
                continue
            yield from ((node, spec.id, value) for value in bad if value is not None)


def call_with(node, name, value):
    """Calls `execute` with defaults for every widget, None for the rest, and `value` for `name`."""
    inputs = {spec.id: getattr(spec, "default", None) for spec in node.define_schema().inputs}
    return node.execute(**{**inputs, name: value})


def test_every_widget_input_is_checked_with_node_input_and_fix(modules):
    io, sampling, context, diagnostics, checked = modules
    cases = list(widget_cases(io, [*sampling.NODES, *context.NODES, *diagnostics.NODES]))
    assert len(cases) > 40
    for node, name, value in cases:
        node_id = node.define_schema().node_id
        with pytest.raises(checked.RewindInputError) as error:
            call_with(node, name, value)
        message = str(error.value)
        assert message.startswith(f"{node_id}: '{name}' is "), (node_id, name, value, message)
        assert "\n" not in message and ("set " in message or "pick one of" in message), message


def test_defaults_pass_the_check(modules):
    io, sampling, context, diagnostics, checked = modules
    for node in [*sampling.NODES, *context.NODES, *diagnostics.NODES]:
        schema = node.define_schema()
        checked.check_inputs(schema, {spec.id: getattr(spec, "default", None) for spec in schema.inputs})


def test_messages_say_what_to_set(modules):
    _, sampling, _, diagnostics, checked = modules
    with pytest.raises(checked.RewindInputError, match=r"^RewindAYSScheduler: 'denoise' is nan; set a number from 0.0 to 1.0\.$"):
        sampling.RewindAYSScheduler.execute("SD1", 16, math.nan)
    with pytest.raises(checked.RewindInputError, match=r"RewindReferenceModel: 'model_type' is 'bogus'.*'SD1.5', 'SDXL', 'Wan2.1'"):
        diagnostics.RewindReferenceModel.execute("bogus", "mixture")
    with pytest.raises(checked.RewindInputError) as huge:
        diagnostics.RewindReferenceModel.execute("x" * 10**6, "mixture")
    assert len(str(huge.value)) < 300, "a hostile value is shortened in the message"
    with pytest.raises(checked.RewindInputError, match=r"RewindUnsampleSampler: 'exact_iterations' is 51, outside its range; set a whole number from 1 to 50"):
        sampling.RewindUnsampleSampler.execute("exact", 51)


def reference(modules, model_type="SD1.5"):
    _, _, _, diagnostics, _ = modules
    model, vae, cond, _ = diagnostics.RewindReferenceModel.execute(model_type, "gaussian").result
    pixels = torch.rand(4, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    return model, cond, {"samples": vae.encode(pixels)}


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_latent_is_refused_before_sampling(modules, bad):
    _, sampling, _, _, checked = modules
    model, cond, latent = reference(modules)
    latent["samples"][1, 2, 3, 3] = bad
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    kind = "NaN" if math.isnan(bad) else "inf"
    with pytest.raises(checked.RewindInputError, match=rf"^RewindUnsampler: 'latent' contains {kind}; check the node feeding 'latent'"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact")
    with pytest.raises(checked.RewindInputError, match=rf"^RewindResampler: 'latent' contains {kind}"):
        sampling.RewindResampler.execute(model, cond, cond, latent, 1.0, "match unsampler", sigmas=sigmas)


def test_non_finite_sigmas_name_the_input(modules):
    _, sampling, _, _, checked = modules
    model, cond, latent = reference(modules)
    with pytest.raises(checked.RewindInputError, match=r"^RewindUnsampler: 'sigmas': .*non-finite value \(nan at position 1\)"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, torch.tensor([2.0, math.nan, 0.0]), "exact")
    with pytest.raises(checked.RewindInputError, match=r"^RewindFlipSigmas: 'sigmas': .*inf"):
        sampling.RewindFlipSigmas.execute(torch.tensor([math.inf, 1.0, 0.0]))


def test_samplercustom_with_nan_cfg_or_latent_is_refused(modules):
    from comfy_extras.nodes_custom_sampler import SamplerCustom

    _, sampling, _, _, checked = modules
    model, cond, latent = reference(modules)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    unsampler = sampling.RewindUnsampleSampler.execute("exact", 2).result[0]
    with pytest.raises(ValueError, match=r"^Rewind unsample sampler: cfg is nan; set a finite cfg"):
        run_core(SamplerCustom, model, False, 0, math.nan, cond, cond, unsampler, sigmas.flip(0), latent)
    poisoned = {"samples": latent["samples"].clone().fill_(math.nan)}
    with pytest.raises(ValueError, match=r"^Rewind unsample sampler: the latent contains NaN"):
        run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, unsampler, sigmas.flip(0), poisoned)


def test_a_model_returning_nan_fails_instead_of_passing_nan_on(modules):
    _, sampling, _, _, checked = modules
    model, cond, latent = reference(modules)
    net = model.model.diffusion_model
    net.forward = lambda xc, *args, **kwargs: torch.full_like(xc, math.nan)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    with pytest.raises(checked.RewindInputError, match=r"^RewindUnsampler: Rewind unsample sampler: the result contains NaN; the model returned non-finite"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler")


def test_a_trajectory_that_cannot_fit_in_ram_is_refused_up_front(modules, monkeypatch):
    import comfy.model_management

    _, sampling, _, _, _ = modules
    model, cond, latent = reference(modules)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 1000, 1.0).result[0]
    monkeypatch.setattr(comfy.model_management, "get_free_memory", lambda device=None, torch_free_too=False: 2**16)
    with pytest.raises(MemoryError, match=r"^RewindUnsampler: 1000 steps keep 1001 copies of the \(4, 4, 4, 4\) latent.*Use fewer steps"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler")


def test_a_latent_reshaped_between_the_passes_says_so(modules, caplog):
    _, sampling, _, _, checked = modules
    model, cond, latent = reference(modules)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "euler").result[0]
    sliced = {**noise, "samples": noise["samples"][:2]}
    with pytest.raises(checked.RewindInputError) as error:
        sampling.RewindResampler.execute(model, cond, cond, sliced, 1.0, "match unsampler")
    message = str(error.value)
    assert "RewindResampler: the latent's shape (2, 4, 4, 4) differs from the (4, 4, 4, 4) RewindUnsampler produced" in message
    assert "Slice or resize before unsampling" in message and "did not come from" not in message
    out = sampling.RewindResampler.execute(model, cond, cond, sliced, 1.0, "match unsampler", sigmas=sigmas).result[0]
    assert out["samples"].shape == (2, 4, 4, 4) and "differs from" in caplog.text


def test_roundtrip_report_refuses_non_finite_latents(modules):
    _, _, _, diagnostics, checked = modules
    reference_latent = {"samples": torch.zeros(2, 4, 4, 4)}
    result = {"samples": torch.zeros(2, 4, 4, 4)}
    result["samples"][0, 0, 0, 0] = math.nan
    with pytest.raises(checked.RewindInputError, match=r"^RewindRoundtripReport: 'result' contains NaN;.*no roundtrip"):
        diagnostics.RewindRoundtripReport.execute(reference_latent, result)
    with pytest.raises(checked.RewindInputError, match=r"^RewindRoundtripReport: 'reference' contains NaN"):
        diagnostics.RewindRoundtripReport.execute(result, reference_latent)


def test_option_and_coherence_conflicts_name_the_node(modules):
    _, _, context, _, checked = modules
    with pytest.raises(checked.RewindInputError, match=r"^RewindContextOptions: context_overlap \(16\) must be"):
        context.RewindContextOptions.execute("static", 16, 16, 1, False, "pyramid", "auto")
    with pytest.raises(checked.RewindInputError, match=r"^RewindLatentCoherence: .*start_percent \(0.8\) must be below end_percent"):
        context.RewindLatentCoherence.execute("temporal", 0.5, 0.8, 0.2, 0.0)
    with pytest.raises(checked.RewindInputError, match=r"^RewindColorMatch: 'images' contains inf"):
        context.RewindColorMatch.execute(torch.full((2, 4, 4, 3), math.inf), 1.0)


def test_preview_refuses_a_plan_that_cannot_run_with_its_size(modules):
    _, _, context, _, checked = modules
    options = context.RewindContextOptions.execute("uniform", 4096, 4095, 8, False, "pyramid", "auto").result[0]
    with pytest.raises(checked.RewindInputError, match=r"^RewindContextPreview: 100000 frames .* MiB .*Lower context_overlap"):
        context.RewindContextPreview.execute(options, 100000)


PREVIEW_AT_MAXIMUM = """
import resource, sys, types
sys.path.insert(0, sys.argv[1])
alias = types.ModuleType("rewind"); alias.__path__ = [sys.argv[2]]; sys.modules["rewind"] = alias
from comfy.cli_args import args
args.cpu = True
from rewind.nodes.context import RewindContextOptions, RewindContextPreview
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for schedule, length, overlap, stride in [("static", 16, 4, 1), ("static", 1, 0, 1), ("uniform", 1, 0, 8),
                                          ("looped", 2, 1, 8), ("batched", 1, 0, 1), ("uniform", 4096, 4095, 8)]:
    options = RewindContextOptions.execute(schedule, length, overlap, stride, True, "overlap-linear", "auto").result[0]
    try:
        image = RewindContextPreview.execute(options, 100000).result[0]
        print("image", *image.shape)
    except ValueError as error:
        print("refused", str(error).split(":")[0])
print("peak_growth_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_preview_at_its_maximum_input_stays_within_a_few_hundred_mb(comfy):
    """A blow-up detector (DEVELOPERS.md): the plan takes ~40 MiB; the old windows x frames float64
    matrix took 80 GB at frames=100000 with one-frame windows. The 300 MiB limit catches that, not speed."""
    result = subprocess.run([sys.executable, "-c", PREVIEW_AT_MAXIMUM, str(comfy), str(REPO_ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split("\n")
    images = [line.split()[1:] for line in lines if line.startswith("image")]
    assert len(images) == 5 and all(int(h) <= 64 * 12 and int(w) <= 1024 for _, h, w, _ in images), lines
    assert "refused RewindContextPreview" in lines
    growth_mib = int(next(line for line in lines if line.startswith("peak_growth_kib")).split()[1]) / 1024
    assert growth_mib < 300, f"previewing 100000 frames grew the process by {growth_mib:.0f} MiB"
