"""The pack's own io types, declared once: what one Rewind node hands another."""
from ..comfy_glue.api import io

ContextOptionsType = io.Custom("REWIND_CONTEXT_OPTIONS")  # samplers.context.ContextOptions
CoherenceType = io.Custom("REWIND_COHERENCE")  # coherence.guidance.Coherence
HighNoiseExpertType = io.Custom("REWIND_HIGH_NOISE_EXPERT")  # samplers.experts.HighNoiseExpert
VideoInfoType = io.Custom("REWIND_VIDEO_INFO")  # video_io.video_info's dict
