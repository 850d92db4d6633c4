"""Streaming video in and out through ffmpeg pipes (numpy/opencv/imageio-ffmpeg only, no ComfyUI).

Decoding hands over one uint8 frame at a time and encoding takes one at a time, so memory stays at
the size of the requested output; colours go through explicitly stated matrices and ranges."""
from .decode import (MODEL_PRESETS, RESIZE_MODES, LoadPlan, LoadRequest, check_memory, load_audio, load_frames,
                     plan_load, stream_frames, video_info)
from .encode import (FORMATS, PIX_FMT_CHOICES, EncodeOptions, encode_video, pingpong_order, resolve_pix_fmt,
                     trimmed_audio, write_png_sequence)
from .ffmpeg import VideoIOError, ffmpeg_path
from .probe import VideoProbe, probe
from .sheet import contact_sheet, write_contact_sheet

__all__ = [
    "FORMATS", "MODEL_PRESETS", "PIX_FMT_CHOICES", "RESIZE_MODES", "EncodeOptions", "LoadPlan", "LoadRequest",
    "VideoIOError", "VideoProbe", "check_memory", "encode_video", "ffmpeg_path", "load_audio", "load_frames",
    "pingpong_order", "plan_load", "probe", "resolve_pix_fmt", "stream_frames", "trimmed_audio", "video_info",
    "contact_sheet", "write_contact_sheet", "write_png_sequence",
]
