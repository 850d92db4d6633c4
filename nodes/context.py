"""Long-video nodes: context windows shared by unsampler and resampler, latent coherence, colour match.

The window planning, fusing, guidance and colour maths live in `samplers/context.py` and `coherence/`;
the handler that runs the windows inside ComfyUI is `comfy_glue/context_handler.py`.
"""
from __future__ import annotations

from ..coherence.color import color_match
from ..coherence.guidance import MODES, Coherence
from ..comfy_glue.api import io
from ..comfy_glue.context_handler import time_axis
from ..presets import WAN21
from ..samplers.checks import check_finite
from ..samplers.context import (FUSE_METHODS, LAYOUT_AUTO, LAYOUT_TEMPORAL, LAYOUTS, SCHEDULES, ContextOptions,
                                pixel_to_latent_frames, plan_context, render_plan)
from .checked import checked
from .types import CoherenceType, ContextOptionsType


class RewindContextOptions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindContextOptions",
            display_name="Rewind Context Options",
            category="Rewind/long video",
            description=(
                "Sliding context windows for long videos. Connect the same options to Rewind Unsampler and Rewind "
                "Resampler: windows depend only on the frame count, never on the step or sigma, so both directions "
                "see identical windows and every solver (heun, fixed-point inversion) works. 'uniform' here is a fixed "
                "uniform tiling (plus dilated windows for context_stride > 1), not a per-step shift."
            ),
            inputs=[
                io.Combo.Input("context_schedule", options=list(SCHEDULES), default="static",
                               tooltip="static: overlapping windows, last one pulled back to full length. uniform: the same plus "
                                       "dilated windows (every 2nd, 4th... frame) when context_stride > 1. looped: windows wrap "
                                       "from the end to the start. batched: non-overlapping chunks (overlap ignored)."),
                io.Int.Input("context_length", default=16, min=1, max=4096,
                             tooltip="Frames the model sees at once, in pixel frames. AnimateDiff: 16; Hotshot-XL: 8; Wan2.1: "
                                     "81 (4n+1 pixel frames map exactly to n+1 latent frames; Mochi 6n+1, LTX-Video "
                                     "8n+1)."),
                io.Int.Input("context_overlap", default=4, min=0, max=4096,
                             tooltip="Pixel frames shared by neighbouring windows; must be smaller than context_length."),
                io.Int.Input("context_stride", default=1, min=1, max=8,
                             tooltip="uniform/looped only: number of dilation levels (1 = contiguous windows only; 2 adds "
                                     "windows over every 2nd frame; 3 every 4th...)."),
                io.Boolean.Input("closed_loop", default=False,
                                 tooltip="looped only: also blend the last frames with the first, for seamless loops."),
                io.Combo.Input("fuse_method", options=list(FUSE_METHODS), default="pyramid",
                               tooltip="How overlapping windows are blended: flat (plain average), pyramid (window centres "
                                       "count more), overlap-linear (linear crossfade over the overlap), relative (a tent that "
                                       "nearly ignores window edges). Weights are normalised to sum to one per frame."),
                io.Combo.Input("layout", options=list(LAYOUTS), default=LAYOUT_AUTO,
                               tooltip="Where time runs in the latent. auto: the model's latent decides (5-D video latents "
                                       "of Wan, HunyuanVideo, LTX-Video, Mochi use the temporal axis, lengths converted "
                                       "from pixel frames with the model's VAE)."),
            ],
            outputs=[ContextOptionsType.Output(display_name="context_options",
                                               tooltip="Connect to context_options of Rewind Unsampler and Rewind Resampler.")],
        )

    @classmethod
    @checked
    def execute(cls, context_schedule, context_length, context_overlap, context_stride, closed_loop, fuse_method, layout) -> io.NodeOutput:
        return io.NodeOutput(ContextOptions(
            schedule=context_schedule, length=context_length, overlap=context_overlap, stride=context_stride,
            closed_loop=closed_loop, fuse_method=fuse_method, layout=layout,
        ))


class RewindContextPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindContextPreview",
            display_name="Rewind Context Preview",
            category="Rewind/long video",
            description="Draws the context windows for a clip: frames left to right, one row per window, brightness = "
                        "that window's share of the frame after fusing. Long clips are drawn at most 1024 pixels wide "
                        "and 64 rows high, a row then standing for a run of consecutive windows.",
            inputs=[
                ContextOptionsType.Input("context_options", tooltip="From Rewind Context Options."),
                io.Int.Input("frames", default=64, min=1, max=100000,
                             tooltip="Clip length in pixel frames (converted to latent frames on a video latent's time "
                                     "axis)."),
                io.Model.Input("model", optional=True,
                               tooltip="Optional: the model the windows are for. Connected, 'auto' takes its latent's "
                                       "layout and pixel frames convert with its VAE's frames per latent frame (Wan "
                                       "and HunyuanVideo 4, Mochi 6, LTX-Video 8). Unconnected, 'auto' previews the "
                                       "frame batch layout and the temporal layout converts as Wan's VAE does."),
            ],
            outputs=[io.Image.Output(tooltip="The window layout; connect to Preview Image.")],
        )

    @classmethod
    @checked
    def execute(cls, context_options: ContextOptions, frames: int, model=None) -> io.NodeOutput:
        if model is not None:
            _, compression = time_axis(model, context_options.layout)
        else:
            compression = WAN21.temporal_compression if context_options.layout == LAYOUT_TEMPORAL else 1
        plan = plan_context(pixel_to_latent_frames(frames, compression), context_options, compression)
        return io.NodeOutput(render_plan(plan).unsqueeze(0))


class RewindLatentCoherence(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindLatentCoherence",
            display_name="Rewind Latent Coherence",
            category="Rewind/long video",
            description=(
                "Guidance against flicker and drift: after each resampling step the latent is pulled toward a "
                "reference. temporal: each frame toward a running average of the frames before it. source anchor: "
                "toward the unsampled input at the same noise level, blurred so the style may change but the "
                "composition stays. window agreement: neighbouring context windows toward the same colour tone."
            ),
            inputs=[
                io.Combo.Input("mode", options=list(MODES), default="temporal",
                               tooltip="What the latent is pulled toward (see the node description)."),
                io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the gap to the reference closed over the active range, whatever the "
                                       "step count or resolution. 0 disables, 1 copies the reference."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where on the resampling path guidance starts (0 = the noisy start)."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where guidance stops (1 = the clean end). Ending early leaves the last steps "
                                       "free to restore detail."),
                io.Float.Input("low_pass", default=0.0, min=0.0, max=0.5, step=0.005,
                               tooltip="Blur the pull, as a fraction of the frame size: only coarse structure (colour, "
                                       "layout) is pulled, detail is left to the model. Try 0.05 for source anchor; "
                                       "ignored by window agreement."),
                ContextOptionsType.Input("context_options", optional=True,
                                         tooltip="window agreement only: the RewindContextOptions given to the resampler."),
            ],
            outputs=[CoherenceType.Output(display_name="coherence", tooltip="Connect to coherence of Rewind Resampler.")],
        )

    @classmethod
    @checked
    def execute(cls, mode, strength, start_percent, end_percent, low_pass, context_options=None) -> io.NodeOutput:
        return io.NodeOutput(Coherence(mode, strength, start_percent, end_percent, low_pass, context_options))


class RewindColorMatch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindColorMatch",
            display_name="Rewind Color Match",
            category="Rewind/long video",
            description="Matches decoded frames' colour (mean and spread of L, a, b) to the first frame or to a reference "
                        "clip, removing slow colour drift across a long video.",
            inputs=[
                io.Image.Input("images", tooltip="Decoded frames (VAE Decode output)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="0 leaves the frames unchanged, 1 matches the reference fully."),
                io.Image.Input("reference", optional=True,
                               tooltip="Optional. One image: every frame matches it. Same frame count: frame by frame "
                                       "(e.g. the source video). Other lengths: the whole clip's colours. Unconnected: "
                                       "the first frame of images."),
            ],
            outputs=[io.Image.Output(tooltip="The colour-matched frames.")],
        )

    @classmethod
    @checked
    def execute(cls, images, strength, reference=None) -> io.NodeOutput:
        check_finite(images, "'images'", "check the node feeding 'images'.")
        if reference is not None:
            check_finite(reference, "'reference'", "check the node feeding 'reference'.")
        return io.NodeOutput(color_match(images, images[:1] if reference is None else reference, strength))


NODES = [RewindContextOptions, RewindContextPreview, RewindLatentCoherence, RewindColorMatch]
