"""Edit quality on the learned fixtures: what a user judges a restyle by, not the roundtrip proxy.

Held-out moving clips of each condition are unsampled under their own prompt and resampled under
a target prompt, through the real nodes: every RewindUnsampler mode with 'match unsampler', the
default's other resampling choices, core FlipSigmas + SamplerCustom, and per-frame img2img with
fresh noise; on flow models also RewindFlowEdit (inversion-free, no unsampling: source guidance at
the unsampling CFG, target guidance at the resampling CFG) at its defaults, other noise correlations,
n_avg 4 and every step. Two kinds of edit: a restyle (same prompt, stronger pull: a higher resampling
CFG) and a content change (the next condition's prompt). Columns (testbed/edit_metrics.py):

  adherence   fraction of frames the model's own classifier (its class-conditional denoising
              error, accuracy on real data printed above the table) assigns to the target prompt
  in-dist     the model's denoising error on the result under the target prompt, over real data's
  structure   pooled (4x4-block) correlation with the source
  warp        warp error along the clip's known motion, interior, over the clip's variance
  flicker     frame-difference energy over the source's (both relative to their variance)
  calls/step  model calls per step, both passes together; s/edit: wall seconds per edit

Each row checks the default against issue #16's bounds (in-dist within 15 %, structure within 0.05,
warp within 15 % of the best other deterministic method), each FlowEdit row against issue #18's target
(restyle: warp error at most the default's; content change: below img2img's), then the default's
same-prompt roundtrip. --weight-free adds the exact reference flow model (prompts are looks).

    python bench/edit.py [--clips 8] [--steps 16] [--cfg-pairs 1:3 1:5] [--fixtures sd15 wan] [--weight-free]

The fixtures are a few MB: the bench runs on the CPU.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_comfyui

KINDS = ("restyle", "content change")
FLOWEDIT_STEPS = 16  # the schedule length RewindFlowEdit's default n_max is meant for (16 AYS steps)
NOISE_CORRELATIONS = (0.0, 0.5, 0.9, 1.0)
ROUNDTRIP_CFGS = (1.0, 3.0, 7.0)
CALIBRATION_COUNT = 32  # real held-out latents per condition for the classifier's accuracy


class Lineup(NamedTuple):
    judged: list  # the default first, then the other deterministic methods it is judged against
    shown: list  # rows shown for reference
    img2img: Any  # fresh-noise img2img, the baseline FlowEdit's content changes are judged against
    flowedit: list  # flow models only


def methods(fixture) -> Lineup:
    from rewind.comfy_glue.model_types import model_family
    from rewind.nodes.sampling import FLOWEDIT_N_MAX, FLOWEDIT_NOISE_CORRELATION, UNSAMPLE_SOLVERS
    from rewind.samplers.solvers import COUPLED_SOLVERS
    from rewind.testbed import edit_cases

    default = edit_cases.default_unsampler()
    judged = [edit_cases.rewind_method(default, name=f"{default} (default)")]
    judged += [edit_cases.rewind_method(solver) for solver in UNSAMPLE_SOLVERS if solver != default]
    judged.append(edit_cases.native_method())
    shown = [edit_cases.rewind_method(default, "euler")]
    if default in COUPLED_SOLVERS:
        shown += [edit_cases.rewind_method(default, edit_coupling=1.0, name=f"{default}, edit coupling 1 (before #16)"),
                  edit_cases.rewind_method(default, edit_coupling=0.0)]
    img2img = edit_cases.img2img_method(fixture.ays_type)
    if model_family(fixture.model) != "flow":
        return Lineup(judged, shown, img2img, [])
    fraction = FLOWEDIT_N_MAX / FLOWEDIT_STEPS
    flowedit = [edit_cases.flowedit_method(fraction, correlation=FLOWEDIT_NOISE_CORRELATION, name="FlowEdit (node defaults)")]
    flowedit += [edit_cases.flowedit_method(fraction, correlation=rho) for rho in NOISE_CORRELATIONS
                 if rho != FLOWEDIT_NOISE_CORRELATION]
    flowedit += [edit_cases.flowedit_method(fraction, n_avg=4, correlation=FLOWEDIT_NOISE_CORRELATION),
                 edit_cases.flowedit_method(1.0, correlation=FLOWEDIT_NOISE_CORRELATION)]
    return Lineup(judged, shown, img2img, flowedit)


def machine() -> str:
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, shared), {torch.get_num_threads()} torch thread(s)"


def comfyui_version(path: Path) -> str:
    namespace: dict = {}
    version_file = path / "comfyui_version.py"
    if version_file.is_file():
        exec(version_file.read_text(), namespace)
    return namespace.get("__version__", "unknown")


def finite(scores) -> bool:
    return all(math.isfinite(v) for v in (scores.in_distribution, scores.structure, scores.warp))


def edit_table(fixture, clips: int, steps: int, cfg_pairs: list[tuple[float, float]]) -> None:
    from rewind.testbed import edit_cases

    judged, shown, img2img, flowedit = methods(fixture)
    source = fixture.moving_clips(fixture.conditions[0], clips)
    motions = ", ".join(str(motion) for motion in sorted(set(source.motions)))
    print(f"\n### {fixture.name}\n")
    print(f"{clips} held-out moving clips of {source.frames} frames per condition ({', '.join(fixture.conditions)}), "
          f"moving {motions} (dy, dx) latent px per frame; {steps} AYS {fixture.ays_type} steps; empty prompt negative. "
          f"Prompt-adherence classifier accuracy on real held-out data: "
          f"{edit_cases.classifier_accuracy(fixture, CALIBRATION_COUNT):.3f} ({CALIBRATION_COUNT} per condition).\n")
    print("| edit | CFG | method | adherence | in-dist | structure | warp | flicker | calls/step | s/edit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts, flowedit_verdicts = [], []
    for kind in KINDS:
        for unsample_cfg, resample_cfg in cfg_pairs:
            cases = edit_cases.edit_cases(fixture, kind, unsample_cfg, resample_cfg)
            results = {}
            for method in [*judged, *shown, img2img, *flowedit]:
                results[method.name] = scores = edit_cases.run_edits(fixture, method, cases, clips, steps)
                print(f"| {kind} | {unsample_cfg:g} → {resample_cfg:g} | {method.name} | {scores.adherence:.2f} | "
                      f"{scores.in_distribution:.2f} | {scores.structure:.2f} | {scores.warp:.3f} | "
                      f"{scores.flicker:.2f} | {scores.calls_per_step:.2f} | {scores.seconds:.1f} |", flush=True)
            missed = edit_cases.shortfalls(results[judged[0].name], {m.name: results[m.name] for m in judged[1:]
                                                     if finite(results[m.name])})
            verdicts.append(f"- {kind}, CFG {unsample_cfg:g} → {resample_cfg:g}: "
                            + ("within every bound" if not missed else "; ".join(missed)))
            for method in flowedit:
                missed = edit_cases.flowedit_shortfall(kind, results[method.name], results[judged[0].name],
                                                       results[img2img.name])
                flowedit_verdicts.append(f"- {kind}, CFG {unsample_cfg:g} → {resample_cfg:g}, {method.name}: "
                                         + (missed or "met"))
    print(f"\nDefault ({judged[0].name}) against the best other deterministic method "
          f"(in-dist ≤ {edit_cases.IN_DISTRIBUTION_SLACK:g}x, structure ≥ best − {edit_cases.STRUCTURE_SLACK:g}, "
          f"warp ≤ {edit_cases.WARP_SLACK:g}x):")
    print("\n".join(verdicts))
    if flowedit:
        print(f"\nFlowEdit against issue #18's target (restyle: warp ≤ the default's; content change: warp < "
              f"{img2img.name}'s):")
        print("\n".join(flowedit_verdicts))
    roundtrips = [f"CFG {cfg:g}: {edit_cases.roundtrip_psnr(fixture, judged[0], cfg, clips, steps):.1f} dB"
                  for cfg in ROUNDTRIP_CFGS]
    print(f"\nDefault's same-prompt roundtrip (worst condition, PSNR to the input): {', '.join(roundtrips)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8, help="held-out moving clips per condition")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--cfg-pairs", nargs="+", default=["1:3", "1:5"], help="unsample:resample CFG pairs")
    parser.add_argument("--fixtures", nargs="+", default=["sd15", "wan"], choices=["sd15", "wan"],
                        help="which learned fixtures (testbed/edit_fixtures.py LEARNED_FIXTURES)")
    parser.add_argument("--weight-free", action="store_true",
                        help="also the weight-free exact flow model (RewindReferenceModel Wan2.1, colour looks)")
    args = parser.parse_args()
    comfyui = import_comfyui(cpu=True)
    logging.getLogger("rewind").setLevel(logging.ERROR)  # the 'default -> euler' row is meant; its warning is not news
    torch.set_num_threads(1)  # the fixtures are tiny: more threads only spin against each other on a shared CPU
    from rewind.testbed import edit_fixtures

    cfg_pairs = [tuple(float(v) for v in pair.split(":")) for pair in args.cfg_pairs]
    command = " ".join(["python bench/edit.py", *sys.argv[1:]])
    print(f"Edit quality, {datetime.date.today()}, {machine()}, ComfyUI {comfyui_version(comfyui)}, "
          f"torch {torch.__version__}; `{command}`")
    fixtures = [edit_fixtures.LEARNED_FIXTURES[name]() for name in args.fixtures]
    fixtures += [edit_fixtures.weight_free_flow()] if args.weight_free else []
    for fixture in fixtures:
        edit_table(fixture, args.clips, args.steps, cfg_pairs)


if __name__ == "__main__":
    main()
