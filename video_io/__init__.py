"""Streaming video in and out through ffmpeg pipes (numpy and imageio-ffmpeg only, no ComfyUI).

Decoding hands over one uint8 frame at a time and encoding takes one at a time, so memory stays at
the size of the requested output; colours go through explicitly stated matrices and ranges."""
from .checks import Limit
from .decode import (LOAD_LIMITS, MODEL_PRESETS, RESIZE_MODES, LoadPlan, LoadRequest, check_memory, check_request,
                     load_audio, load_frames, plan_load, stream_frames, video_info)
from .encode import (ENCODE_LIMITS, FORMATS, PIX_FMT_CHOICES, EncodeOptions, NumberedName, check_filename_prefix,
                     check_options, encode_video, pingpong_order, resolve_pix_fmt, trimmed_audio, write_lossless,
                     write_png_sequence)
from .ffmpeg import StopCheck, VideoIOCancelled, VideoIOError, ffmpeg_path
from .probe import VideoProbe, check_local_video_file, probe
from .sheet import contact_sheet, write_contact_sheet

__all__ = [
    "ENCODE_LIMITS", "FORMATS", "LOAD_LIMITS", "MODEL_PRESETS", "PIX_FMT_CHOICES", "RESIZE_MODES",
    "EncodeOptions", "Limit", "LoadPlan", "LoadRequest", "NumberedName", "StopCheck", "VideoIOCancelled", "VideoIOError",
    "VideoProbe",
    "check_filename_prefix", "check_local_video_file", "check_memory", "contact_sheet", "check_options", "check_request", "encode_video", "ffmpeg_path",
    "load_audio", "load_frames", "pingpong_order", "plan_load", "probe", "resolve_pix_fmt", "stream_frames",
    "trimmed_audio", "video_info", "write_contact_sheet", "write_lossless", "write_png_sequence",
]
