"""Video in and out without VideoHelperSuite: thin ComfyUI nodes over `video_io`.

The frames' way between ComfyUI's IMAGE/LATENT/AUDIO and ffmpeg is `comfy_glue/frames.py`; which files
the loaders may read, and how errors name them, is `comfy_glue/folders.py`; ComfyUI's own VIDEO type in
and out is `comfy_glue/video.py`; where results go is `comfy_glue/saving.py`.
"""
from __future__ import annotations

import contextlib
import itertools
import os

from .. import video_io
from ..comfy_glue.api import io
from ..comfy_glue.folders import ALLOWED_DIRS_ENV, allowed_video_path, input_video_path, video_files_in_input
from ..comfy_glue.frames import audio_track, frame_source, load_video
from ..comfy_glue.interrupt import stop_requested
from ..comfy_glue.saving import preview_ui, save_location, saving_errors, workflow_metadata
from ..comfy_glue.video import saved_video, video_file
from ..video_io import VideoIOError
from .checked import checked, refusal
from .types import VideoInfoType

LOAD, ENCODE = video_io.LOAD_LIMITS, video_io.ENCODE_LIMITS
CORE_VIDEO = "core_video"  # the loaders' optional VIDEO input
UNCONNECTED = object()  # what validate_inputs gets for an input left unconnected (a linked one arrives as None)


# --- loading ------------------------------------------------------------------------------------

def load_inputs(video_input: io.Input) -> list[io.Input]:
    """The inputs both loaders share; the main job's workflows depend on these exact names."""
    return [
        video_input,
        io.Float.Input("force_rate", default=0.0, **LOAD["force_rate"].bounds(), step=1.0,
                       tooltip="Resample the video to this frame rate before selecting frames. 0 keeps the file's rate (or the model preset's)."),
        io.Int.Input("custom_width", default=0, **LOAD["custom_width"].bounds(), step=8,
                     tooltip="Output width in pixels. 0 keeps the source width, or follows custom_height's aspect."),
        io.Int.Input("custom_height", default=0, **LOAD["custom_height"].bounds(), step=8,
                     tooltip="Output height in pixels. 0 keeps the source height, or follows custom_width's aspect."),
        io.Int.Input("frame_load_cap", default=0, **LOAD["frame_load_cap"].bounds(),
                     tooltip="Load at most this many frames (after skipping and selecting). 0 loads all."),
        io.Int.Input("skip_first_frames", default=0, **LOAD["skip_first_frames"].bounds(),
                     tooltip="Frames to skip at the start (counted at the forced rate, if any)."),
        io.Int.Input("select_every_nth", default=1, **LOAD["select_every_nth"].bounds(),
                     tooltip="Keep every nth frame after skipping: 2 halves the frame count and the output fps."),
        io.Combo.Input("model_preset", options=list(video_io.MODEL_PRESETS), default="none",
                       tooltip="Snap sizes (and for video models, fps and frame counts like 4n+1) to what the model needs."),
        io.Combo.Input("resize_mode", options=list(video_io.RESIZE_MODES), default="crop",
                       tooltip="When the output aspect differs from the source: crop the centre, pad with black, or stretch."),
        io.Vae.Input("vae", optional=True,
                     tooltip="Optional: encode frames to latents in chunks as they are decoded, so the full float IMAGE never exists (the images output is then empty)."),
        io.Video.Input(CORE_VIDEO, optional=True,
                       tooltip="Optional: a VIDEO from ComfyUI's own video nodes (Load Video, Create Video...) to load instead of "
                               "the video input, with every option here applied to it."),
    ]


LOAD_OUTPUTS = [
    io.Image.Output("images", display_name="images", tooltip="The frames as an IMAGE batch; empty when a vae is connected."),
    io.Int.Output("frame_count", display_name="frame_count", tooltip="How many frames were loaded."),
    io.Float.Output("fps", display_name="fps", tooltip="Playback rate of the loaded frames (the source or forced rate divided by select_every_nth)."),
    io.Audio.Output("audio", display_name="audio", tooltip="The audio under the loaded frames; None when the file has no audio track."),
    VideoInfoType.Output("video_info", display_name="video_info", tooltip="Source and loaded fps, frame count, duration and size."),
    io.Latent.Output("latent", display_name="latent", tooltip="The frames encoded by the connected vae; None without one."),
]


def loaded(path_of, video, core_video, vae, request: dict) -> io.NodeOutput:
    """Both loaders' run: the connected VIDEO if there is one, else the file `video` names."""
    source = video_file(core_video, CORE_VIDEO) if core_video is not None else contextlib.nullcontext(path_of(video))
    with source as path:
        return io.NodeOutput(*load_video(path, video_io.LoadRequest(**request), vae))


class RewindLoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RewindLoadVideo",
            display_name="Load Video (Rewind)",
            category="Rewind/video",
            description="Loads a video from ComfyUI's input folder (upload one with the button), or a VIDEO from ComfyUI's own "
                        "video nodes, streaming frames from ffmpeg with correct colours and exact frame counts; refuses up front "
                        "a load that would not fit in RAM.",
            inputs=load_inputs(io.Combo.Input("video", options=video_files_in_input(), upload=io.UploadType.video,
                                              tooltip="A video in ComfyUI's input folder; upload one with the button.")),
            outputs=LOAD_OUTPUTS,
        )

    @classmethod
    @checked
    def execute(cls, video, vae=None, core_video=None, **request) -> io.NodeOutput:
        return loaded(input_video_path, video, core_video, vae, request)

    @classmethod
    def fingerprint_inputs(cls, video, **_):
        return file_fingerprint(input_video_path, video)

    @classmethod
    def validate_inputs(cls, video, core_video=UNCONNECTED):
        return file_verdict(cls, input_video_path, video, core_video)


class RewindLoadVideoPath(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RewindLoadVideoPath",
            display_name="Load Video Path (Rewind)",
            category="Rewind/video",
            description="Loads a video by its path on the server (for API scripts and subfolders), or a VIDEO from ComfyUI's own "
                        "video nodes, streaming frames from ffmpeg with correct colours and exact frame counts. Paths (a VIDEO's "
                        "file too) must lie in ComfyUI's input, output or temp folder unless the server owner allows more in "
                        f"{ALLOWED_DIRS_ENV}.",
            inputs=load_inputs(io.String.Input("video", default="",
                                               tooltip="Path to a video file in ComfyUI's input, output or temp folder; relative "
                                                       "paths start at the input folder; surrounding quotes are ignored.")),
            outputs=LOAD_OUTPUTS,
        )

    @classmethod
    @checked
    def execute(cls, video, vae=None, core_video=None, **request) -> io.NodeOutput:
        return loaded(allowed_video_path, video, core_video, vae, request)

    @classmethod
    def fingerprint_inputs(cls, video, **_):
        return file_fingerprint(allowed_video_path, video)

    @classmethod
    def validate_inputs(cls, video, core_video=UNCONNECTED):
        return file_verdict(cls, allowed_video_path, video, core_video)


def file_verdict(node: type[io.ComfyNode], resolve, video, core_video) -> str | bool:
    """validate_inputs' verdict on the file alone (numbers are checked at run time, one message
    each): ComfyUI repeats a verdict once per input the check takes. With a VIDEO connected the
    file is not read."""
    if video is None or core_video is not UNCONNECTED:  # linked from another node: known only at run time
        return True
    try:
        video_io.check_local_video_file(resolve(video))
    except VideoIOError as error:
        return refusal(node, error)
    return True


def file_fingerprint(resolve, video: str):
    """The file's mtime, so an overwritten upload reloads; the name itself when it cannot be read."""
    try:
        return os.path.getmtime(resolve(video))
    except (VideoIOError, OSError):
        return video


# --- combining ----------------------------------------------------------------------------------

class RewindVideoCombine(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RewindVideoCombine",
            display_name="Video Combine (Rewind)",
            category="Rewind/video",
            description="Writes frames to a video or animated image through ffmpeg, one frame at a time, with bt709 colour tags, "
                        "audio muxed in the same pass and the workflow embedded so dropping the file on ComfyUI restores it.",
            inputs=[
                io.Image.Input("images", optional=True, tooltip="The frames to write. Optional when latent and vae are connected."),
                io.Float.Input("frame_rate", default=8.0, **ENCODE["frame_rate"].bounds(), step=1.0, tooltip="Frames per second of the written file."),
                io.Int.Input("loop_count", default=0, **ENCODE["loop_count"].bounds(), tooltip="gif/webp: extra plays after the first; 0 loops forever."),
                io.String.Input("filename_prefix", default="Rewind/Rewind",
                                tooltip="File name prefix; may contain subfolders and %date:...% style fields like Save Image."),
                io.Combo.Input("format", options=list(video_io.FORMATS), default="video/h264-mp4", tooltip="Container and codec to write."),
                io.Boolean.Input("pingpong", default=False, tooltip="Play forward then backward (2N-2 frames) for a seamless loop."),
                io.Boolean.Input("save_output", default=True, tooltip="Save to the output folder; off writes a preview to the temp folder."),
                io.Int.Input("crf", default=19, **ENCODE["crf"].bounds(),
                             tooltip="Quality: lower is better (h264/h265 0-51, webm 0-63; webp quality is 100-crf; ignored by gif/ProRes/png)."),
                io.Combo.Input("pix_fmt", options=list(video_io.PIX_FMT_CHOICES), default="auto",
                               tooltip="Pixel format; auto picks the format's default (yuv420p for mp4/webm, best compatibility). "
                                       "yuv444p/10-bit keep more colour but play in fewer browsers."),
                io.Audio.Input("audio", optional=True, tooltip="Audio to mux in (mp4/webm/ProRes); cut to the video's length."),
                io.Latent.Input("latent", optional=True, tooltip="Latents to decode with vae chunk by chunk instead of images."),
                io.Vae.Input("vae", optional=True, tooltip="The VAE that decodes latent."),
            ],
            outputs=[
                io.String.Output("file_path", display_name="file_path", tooltip="Path of the written file (the folder for a png sequence)."),
                io.Video.Output("video", display_name="video",
                                tooltip="The written file as a VIDEO for ComfyUI's own video nodes (Save Video, Get Video Components) "
                                        "and Rewind's loaders; empty for png-sequence and webp, which they cannot read."),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    @checked
    def execute(cls, frame_rate, loop_count, filename_prefix, format, pingpong, save_output, crf, pix_fmt,
                images=None, audio=None, latent=None, vae=None) -> io.NodeOutput:
        options = video_io.EncodeOptions(format=format, frame_rate=frame_rate, crf=crf, pix_fmt=pix_fmt, loop_count=loop_count)
        video_io.check_options(options)  # cross-field rules (pix_fmt and crf for this format), before any decoding
        video_io.check_filename_prefix(filename_prefix)  # refused here: ComfyUI's own message prints server paths
        frames, count = frame_source(images, latent, vae, pingpong)
        first = next(frames)
        return cls.write(itertools.chain([first], frames), first.shape, options, save_output, filename_prefix,
                         audio_track(audio, count, frame_rate))

    @classmethod
    def write(cls, frames, shape, options, save_output, filename_prefix, audio) -> io.NodeOutput:
        """Writes under a name no other result has (see comfy_glue/saving.py); a preview for formats browsers
        cannot play goes to the same subfolder of the temp folder."""
        spec = video_io.FORMATS[options.format]
        metadata = workflow_metadata(cls.hidden.prompt if cls.hidden else None, cls.hidden.extra_pnginfo if cls.hidden else None)
        with saving_errors(filename_prefix):
            location = save_location(filename_prefix, "output" if save_output else "temp", shape[1], shape[0])
            if spec.extension == "png":
                paths = video_io.write_png_sequence(frames, location.named(""), metadata, stop_requested)
                entries = [location.entry(path, options.format) for path in paths]
                folder = os.path.dirname(paths[0])
                return io.NodeOutput(folder, saved_video(folder, options.format), ui=preview_ui(entries, spec.extension))
            if spec.browser_plays:
                path, = video_io.encode_video(frames, location.named(f".{spec.extension}"), options, audio=audio,
                                              metadata=metadata, should_stop=stop_requested)
                ui = preview_ui([location.entry(path, options.format)], spec.extension)
                return io.NodeOutput(path, saved_video(path, options.format), ui=ui)
            preview = location.in_temp()
            path, preview_file = video_io.encode_video(frames, location.named(f".{spec.extension}"), options, audio=audio,
                                                       metadata=metadata, preview_path=preview.named("preview.mp4"),
                                                       should_stop=stop_requested)
        master = location.entry(path, options.format)  # for API clients to download
        ui = {**preview_ui([preview.entry(preview_file, "video/h264-mp4")], "mp4"), "rewind_files": [master]}
        return io.NodeOutput(path, saved_video(path, options.format), ui=ui)


NODES = [RewindLoadVideo, RewindLoadVideoPath, RewindVideoCombine]
