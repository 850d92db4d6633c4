"""Hostile tier: bad values for the sampling, schedule, context and diagnostics nodes, queued to a
real ComfyUI server. ComfyUI 0.3.75 lets NaN, linked values and V3 combo values through its own
checks; each must come back as one clear error naming node and input. The `client` fixture then
checks that the server runs the next prompt and that nothing was left behind."""
from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.server


def node(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def unsample_prompt(cfg=1.0, multiplier=1.0, tail: dict | None = None) -> dict:
    """Reference model -> 2 tiny latents (times `multiplier`) -> RewindUnsampler -> `tail`."""
    return {
        "model": node("RewindReferenceModel", model_type="SD1.5", data="gaussian"),
        "empty": node("EmptyLatentImage", width=64, height=64, batch_size=2),
        "scaled": node("LatentMultiply", samples=["empty", 0], multiplier=multiplier),
        "sigmas": node("RewindAYSScheduler", model_type="SD1", steps=4, denoise=1.0, flow_shift=3.0),
        "unsample": node("RewindUnsampler", model=["model", 0], positive=["model", 2], negative=["model", 2],
                         latent=["scaled", 0], cfg=cfg, sigmas=["sigmas", 0], solver="euler", exact_iterations=2),
        **(tail or {"report": node("RewindRoundtripReport", reference=["scaled", 0], result=["unsample", 0])}),
    }


def resample(latent_from: str, cfg=1.0) -> dict:
    return node("RewindResampler", model=["model", 0], positive=["model", 2], negative=["model", 2],
                latent=[latent_from, 0], cfg=cfg, solver="match unsampler")


CASES = {
    "AYS denoise NaN": (
        {"sigmas": node("RewindAYSScheduler", model_type="SD1", steps=8, denoise=math.nan, flow_shift=3.0),
         "show": node("PreviewAny", source=["sigmas", 0])},
        "RewindAYSScheduler: 'denoise' is nan; set a number from 0.0 to 1.0."),
    "reference model type not an option": (
        {"model": node("RewindReferenceModel", model_type="bogus", data="mixture"), "show": node("PreviewAny", source=["model", 0])},
        "RewindReferenceModel: 'model_type' is 'bogus', which is not one of its options"),
    "cfg NaN": (unsample_prompt(cfg=math.nan), "RewindUnsampler: 'cfg' is nan; set a number from 0.0 to 30.0."),
    "cfg linked past its maximum": (
        {**unsample_prompt(cfg=["big", 0]), "big": node("PrimitiveFloat", value=1000.0)},
        "RewindUnsampler: 'cfg' is 1000.0, outside its range; set a number from 0.0 to 30.0."),
    "NaN latent": (unsample_prompt(multiplier=math.nan), "RewindUnsampler: 'latent' contains NaN; check the node feeding 'latent'."),
    "latent sliced between the passes": (
        unsample_prompt(tail={"slice": node("LatentFromBatch", samples=["unsample", 0], batch_index=0, length=1),
                              "resample": resample("slice"),
                              "report": node("RewindRoundtripReport", reference=["scaled", 0], result=["resample", 0])}),
        "RewindResampler: the latent's shape (1, 4, 8, 8) differs from the (2, 4, 8, 8) RewindUnsampler produced"),
    "SamplerCustom cfg NaN with the Rewind sampler": (
        {**unsample_prompt(),
         "sampler": node("RewindUnsampleSampler", solver="exact", exact_iterations=2),
         "custom": node("SamplerCustom", model=["model", 0], add_noise=False, noise_seed=0, cfg=math.nan,
                        positive=["model", 2], negative=["model", 2], sampler=["sampler", 0], sigmas=["sigmas", 0],
                        latent_image=["scaled", 0]),
         "report": node("RewindRoundtripReport", reference=["scaled", 0], result=["custom", 0])},
        "Rewind unsample sampler: cfg is nan; set a finite cfg"),
    "context preview of a plan that cannot run": (
        {"options": node("RewindContextOptions", context_schedule="uniform", context_length=4096, context_overlap=4095,
                         context_stride=8, closed_loop=False, fuse_method="pyramid", layout="auto"),
         "preview": node("RewindContextPreview", context_options=["options", 0], frames=100000),
         "show": node("PreviewImage", images=["preview", 0])},
        "RewindContextPreview: 100000 frames in uniform windows of 4096 (overlap 4095)"),
    "context overlap not below the length": (
        {"options": node("RewindContextOptions", context_schedule="static", context_length=8, context_overlap=8,
                         context_stride=1, closed_loop=False, fuse_method="pyramid", layout="auto"),
         "preview": node("RewindContextPreview", context_options=["options", 0], frames=64),
         "show": node("PreviewImage", images=["preview", 0])},
        "RewindContextOptions: context_overlap (8) must be at least 0 and smaller than context_length (8)"),
}


def roundtrip_report(outcome) -> str:
    return " ".join(text for output in outcome.outputs.values() for text in output.get("text", []))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_named_and_the_next_prompt_runs(client, case):
    prompt, expected = CASES[case]
    outcome = client.run(prompt, within=300)
    assert outcome.status == "error"
    assert expected in outcome.error, outcome.error
    assert "Traceback" not in outcome.error.split("\n")[0]
    healthy = client.run(unsample_prompt(), within=300)
    assert healthy.status == "success" and "roundtrip PSNR" in roundtrip_report(healthy), healthy.error


def test_context_preview_at_its_maximum_frames_finishes(client):
    prompt = {
        "options": node("RewindContextOptions", context_schedule="uniform", context_length=1, context_overlap=0,
                        context_stride=8, closed_loop=True, fuse_method="overlap-linear", layout="auto"),
        "preview": node("RewindContextPreview", context_options=["options", 0], frames=100000),
        "show": node("PreviewImage", images=["preview", 0]),
    }
    outcome = client.run(prompt, within=120)
    assert outcome.status == "success", outcome.error
    assert [image["filename"][-4:] for image in outcome.outputs["show"]["images"]] == [".png"]
