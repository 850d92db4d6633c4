"""Video in and out without VideoHelperSuite: thin ComfyUI nodes over `video_io`.

Loading streams uint8 frames from ffmpeg straight into the float IMAGE tensor (or, with a VAE,
into latents chunk by chunk); combining converts one frame at a time to uint8 on its way into
ffmpeg. The ComfyUI side here is only paths, tensors, VAE calls, Cancel and the UI preview.

On a shared server the loaders read only inside ComfyUI's folders (plus what the owner allows in
$REWIND_ALLOWED_VIDEO_DIRS), and errors show names relative to those folders, never server paths.
"""
from __future__ import annotations

import itertools
import logging
import os
import shutil
from typing import Iterable, Iterator

import numpy as np
import psutil
import torch

import comfy.model_management
import folder_paths
from comfy.cli_args import args

from .. import video_io
from ..video_io import VideoIOCancelled, VideoIOError
from .comfy_api import io

VideoInfo = io.Custom("REWIND_VIDEO_INFO")
VAE_CHUNK_FRAMES = 16  # frames per VAE call: bounds the float copy alive at once
VIDEO_PREVIEW_EXTENSIONS = ("mp4", "webm", "mov", "webp")  # shown as video / animated image by the frontend
ALLOWED_DIRS_ENV = "REWIND_ALLOWED_VIDEO_DIRS"
LOAD, ENCODE = video_io.LOAD_LIMITS, video_io.ENCODE_LIMITS
SAMPLE_CLIP = "rewind_sample.mp4"  # what the example workflows load, so they queue without an upload
PACK_SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "sample.mp4")


# --- files, errors, Cancel ----------------------------------------------------------------------

def comfy_folders() -> dict[str, str]:
    """ComfyUI's own folders by the name errors show them as."""
    return {"input": folder_paths.get_input_directory(), "output": folder_paths.get_output_directory(),
            "temp": folder_paths.get_temp_directory()}


def public_text(text: str) -> str:
    """`text` with ComfyUI's folders shown by name ('input/clip.mp4'), not as server paths."""
    spellings = {variant: label for label, folder in comfy_folders().items()
                 for variant in (os.path.abspath(folder), os.path.realpath(folder))}
    for variant in sorted(spellings, key=len, reverse=True):
        text = text.replace(variant, spellings[variant])
    return text


def node_error(node: str, error: Exception) -> ValueError:
    return ValueError(public_text(f"{node}: {error}"))


def stop_requested() -> bool:
    """ComfyUI's Cancel flag, read without clearing it (video_io polls it from a watchdog thread)."""
    return comfy.model_management.processing_interrupted()


def interrupted() -> Exception:
    """What a node raises once video_io stopped for Cancel: ComfyUI's own interrupt, flag cleared."""
    comfy.model_management.throw_exception_if_processing_interrupted()
    return comfy.model_management.InterruptProcessingException()


def is_inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives (Windows)
        return False


def input_video_path(name: str) -> str:
    """The real path of an upload-style name, which must stay inside the input folder after
    following `..` and symlinks; one message for outside and missing, so neither is revealed."""
    name = name[:-len(" [input]")] if name.endswith(" [input]") else name
    folder = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(folder, name))
    if not name or os.path.isabs(name) or not is_inside(path, folder) or not os.path.isfile(path):
        raise VideoIOError(f"video {name!r} is not a file in ComfyUI's input folder: upload it with the button or pick "
                           "one from the list (names are relative to the input folder; '..' and absolute paths are refused).")
    return path


def allowed_video_folders() -> list[str]:
    """Real paths of the folders RewindLoadVideoPath may read: ComfyUI's input, output and temp
    folders, and those the server owner lists in $REWIND_ALLOWED_VIDEO_DIRS."""
    extra = [folder for folder in os.environ.get(ALLOWED_DIRS_ENV, "").split(os.pathsep) if folder.strip()]
    return [os.path.realpath(folder) for folder in [*comfy_folders().values(), *extra]]


def allowed_video_path(typed: str) -> str:
    """The real path of a typed path (relative ones start at the input folder) if it lies in an
    allowed folder. The refusal is the same whether or not the file exists, and does not echo it."""
    path = os.path.expanduser(typed.strip().strip("\"'"))
    if "://" in path:
        raise VideoIOError("video: URLs and streams are not loaded, only video files in ComfyUI's folders. "
                           "Download the video into the input folder first.")
    path = os.path.realpath(os.path.join(folder_paths.get_input_directory(), path))
    if not typed.strip() or not any(is_inside(path, folder) for folder in allowed_video_folders()):
        raise VideoIOError(f"video: that path is outside the folders videos may be loaded from (ComfyUI's input, output "
                           f"and temp folders). Copy the video into the input folder, or ask the server owner to add "
                           f"its folder to {ALLOWED_DIRS_ENV}.")
    return path


def validation_message(node: str, resolve, video) -> str | bool:
    """validate_inputs' verdict on the file alone (numbers are checked at run time, one message
    each): ComfyUI repeats a verdict once per input the check takes."""
    if video is None:  # linked from another node: known only at run time
        return True
    try:
        video_io.check_local_video_file(resolve(video))
    except VideoIOError as error:
        return str(node_error(node, error))
    return True


# --- loading ------------------------------------------------------------------------------------

def limits(table: dict[str, video_io.Limit], name: str) -> dict:
    """A schema's min/max from the same table video_io checks values against."""
    return {"min": table[name].low, "max": table[name].high}


def load_inputs(video_input: io.Input) -> list[io.Input]:
    """The inputs both loaders share; the main job's workflows depend on these exact names."""
    return [
        video_input,
        io.Float.Input("force_rate", default=0.0, **limits(LOAD, "force_rate"), step=1.0,
                       tooltip="Resample the video to this frame rate before selecting frames. 0 keeps the file's rate (or the model preset's)."),
        io.Int.Input("custom_width", default=0, **limits(LOAD, "custom_width"), step=8,
                     tooltip="Output width in pixels. 0 keeps the source width, or follows custom_height's aspect."),
        io.Int.Input("custom_height", default=0, **limits(LOAD, "custom_height"), step=8,
                     tooltip="Output height in pixels. 0 keeps the source height, or follows custom_width's aspect."),
        io.Int.Input("frame_load_cap", default=0, **limits(LOAD, "frame_load_cap"),
                     tooltip="Load at most this many frames (after skipping and selecting). 0 loads all."),
        io.Int.Input("skip_first_frames", default=0, **limits(LOAD, "skip_first_frames"),
                     tooltip="Frames to skip at the start (counted at the forced rate, if any)."),
        io.Int.Input("select_every_nth", default=1, **limits(LOAD, "select_every_nth"),
                     tooltip="Keep every nth frame after skipping: 2 halves the frame count and the output fps."),
        io.Combo.Input("model_preset", options=list(video_io.MODEL_PRESETS), default="none",
                       tooltip="Snap sizes (and for video models, fps and frame counts like 4n+1) to what the model needs."),
        io.Combo.Input("resize_mode", options=list(video_io.RESIZE_MODES), default="crop",
                       tooltip="When the output aspect differs from the source: crop the centre, pad with black, or stretch."),
        io.Vae.Input("vae", optional=True,
                     tooltip="Optional: encode frames to latents in chunks as they are decoded, so the full float IMAGE never exists (the images output is then empty)."),
    ]


LOAD_OUTPUTS = [
    io.Image.Output("images", display_name="images", tooltip="The frames as an IMAGE batch; empty when a vae is connected."),
    io.Int.Output("frame_count", display_name="frame_count", tooltip="How many frames were loaded."),
    io.Float.Output("fps", display_name="fps", tooltip="Playback rate of the loaded frames (the source or forced rate divided by select_every_nth)."),
    io.Audio.Output("audio", display_name="audio", tooltip="The audio under the loaded frames; None when the file has no audio track."),
    VideoInfo.Output("video_info", display_name="video_info", tooltip="Source and loaded fps, frame count, duration and size."),
    io.Latent.Output("latent", display_name="latent", tooltip="The frames encoded by the connected vae; None without one."),
]


def is_video_vae(vae) -> bool:
    """Video VAEs (Wan, Hunyuan...) compress time: their frames must be encoded in one call."""
    return getattr(vae, "latent_dim", 2) == 3


def float_frames(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).float().div_(255.0)


def chunked(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    chunk = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def encode_to_latent(plan: video_io.LoadPlan, vae) -> tuple[torch.Tensor, int]:
    """Latent of the planned frames and how many frames went in; image VAEs go chunk by chunk."""
    if is_video_vae(vae):
        frames = torch.from_numpy(video_io.load_frames(plan, stop_requested))
        return vae.encode(frames), len(frames)
    latents, count = [], 0
    for chunk in chunked(video_io.stream_frames(plan, stop_requested), VAE_CHUNK_FRAMES):
        latents.append(vae.encode(float_frames(chunk)).cpu())
        count += len(chunk)
    return torch.cat(latents), count


def audio_output(plan: video_io.LoadPlan, frame_count: int) -> dict | None:
    track = video_io.load_audio(plan, frame_count, stop_requested)
    if track is None:
        return None
    waveform, sample_rate = track
    return {"waveform": torch.from_numpy(waveform).unsqueeze(0), "sample_rate": sample_rate}


def load_video(node: str, resolve, video: str, vae=None, **request) -> io.NodeOutput:
    """Shared body of both loaders (`resolve` turns the video input into a permitted path):
    every video_io error comes back naming the node, Cancel as ComfyUI's interrupt."""
    try:
        load_request = video_io.LoadRequest(**request)
        video_io.check_request(load_request)  # before ffmpeg is started for nothing
        plan = video_io.plan_load(video_io.probe(resolve(video), stop_requested), load_request)
        video_io.check_memory(plan, psutil.virtual_memory().available, images=vae is None or is_video_vae(vae))
        if vae is None:
            images, latent = torch.from_numpy(video_io.load_frames(plan, stop_requested)), None
            count = len(images)
        else:
            samples, count = encode_to_latent(plan, vae)
            images, latent = torch.zeros((0, plan.height, plan.width, 3)), {"samples": samples}
        return io.NodeOutput(images, count, plan.fps, audio_output(plan, count), video_io.video_info(plan, count), latent)
    except VideoIOError as error:
        raise node_error(node, error) from error
    except VideoIOCancelled:
        raise interrupted() from None


def install_sample_clip() -> None:
    """Copies the pack's sample clip into the input folder once (never over a user's file), so the
    example workflows queue on first try and the loader's preview plays it: the frontend previews
    only files it can fetch from the input folder, like core's input/example.png."""
    target = os.path.join(folder_paths.get_input_directory(), SAMPLE_CLIP)
    try:
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(PACK_SAMPLE, target)
    except OSError as error:
        logging.warning("Rewind: could not copy the sample clip to %s (%s); upload a video in Load Video instead.",
                        target, error)


def video_files_in_input() -> list[str]:
    folder = folder_paths.get_input_directory()
    files = [name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name))]
    return sorted(folder_paths.filter_files_content_types(files, ["video"]))


class RewindLoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RewindLoadVideo",
            display_name="Load Video (Rewind)",
            category="Rewind/video",
            description="Loads a video from ComfyUI's input folder (upload one with the button), streaming frames from ffmpeg "
                        "with correct colours and exact frame counts; refuses up front a load that would not fit in RAM.",
            inputs=load_inputs(io.Combo.Input("video", options=video_files_in_input(), upload=io.UploadType.video,
                                              tooltip="A video in ComfyUI's input folder; upload one with the button.")),
            outputs=LOAD_OUTPUTS,
        )

    @classmethod
    def execute(cls, video, vae=None, **request) -> io.NodeOutput:
        return load_video("RewindLoadVideo", input_video_path, video, vae, **request)

    @classmethod
    def fingerprint_inputs(cls, video, **_):
        return file_fingerprint(input_video_path, video)

    @classmethod
    def validate_inputs(cls, video):
        return validation_message("RewindLoadVideo", input_video_path, video)


class RewindLoadVideoPath(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RewindLoadVideoPath",
            display_name="Load Video Path (Rewind)",
            category="Rewind/video",
            description="Loads a video by its path on the server (for API scripts and subfolders), streaming frames from ffmpeg "
                        "with correct colours and exact frame counts. Paths must lie in ComfyUI's input, output or temp folder "
                        f"unless the server owner allows more in {ALLOWED_DIRS_ENV}.",
            inputs=load_inputs(io.String.Input("video", default="",
                                               tooltip="Path to a video file in ComfyUI's input, output or temp folder; relative "
                                                       "paths start at the input folder; surrounding quotes are ignored.")),
            outputs=LOAD_OUTPUTS,
        )

    @classmethod
    def execute(cls, video, vae=None, **request) -> io.NodeOutput:
        return load_video("RewindLoadVideoPath", allowed_video_path, video, vae, **request)

    @classmethod
    def fingerprint_inputs(cls, video, **_):
        return file_fingerprint(allowed_video_path, video)

    @classmethod
    def validate_inputs(cls, video):
        return validation_message("RewindLoadVideoPath", allowed_video_path, video)


def file_fingerprint(resolve, video: str):
    """The file's mtime, so an overwritten upload reloads; the name itself when it cannot be read."""
    try:
        return os.path.getmtime(resolve(video))
    except (VideoIOError, OSError):
        return video


# --- combining ----------------------------------------------------------------------------------

def to_uint8(frame: torch.Tensor) -> np.ndarray:
    """One IMAGE frame to (H, W, 3) uint8, rounded rather than truncated (truncation darkens by half a
    level). In numpy: small per-frame torch ops pay for waking its thread pool every call."""
    rgb = frame[..., :3].to(device="cpu", dtype=torch.float32).numpy()
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def decoded_frames(latent: dict, vae) -> Iterator[torch.Tensor]:
    """Frames of a latent decoded chunk by chunk (video VAEs in one call: they decode across time)."""
    samples = latent["samples"]
    chunks = [samples] if is_video_vae(vae) else samples.split(VAE_CHUNK_FRAMES)
    for chunk in chunks:
        images = vae.decode(chunk)
        yield from images.reshape(-1, *images.shape[-3:])


def frame_source(images: torch.Tensor | None, latent: dict | None, vae, pingpong: bool) -> tuple[Iterator[np.ndarray], int]:
    """uint8 frames in playback order, made one at a time, and how many there will be."""
    if images is None:
        if latent is None or vae is None:
            raise VideoIOError("nothing to write: connect images, or a latent together with a vae.")
        if not pingpong:
            return (to_uint8(frame) for frame in decoded_frames(latent, vae)), latent_frame_count(latent, vae)
        images_u8 = [to_uint8(frame) for frame in decoded_frames(latent, vae)]  # ping-pong revisits frames
        order = video_io.pingpong_order(len(images_u8))
        return (images_u8[i] for i in order), len(order)
    if len(images) == 0:
        raise VideoIOError("the images input is an empty batch (a loader with a vae outputs latents instead): "
                           "connect its latent and the vae here.")
    order = video_io.pingpong_order(len(images)) if pingpong else range(len(images))
    return (to_uint8(images[i]) for i in order), len(order)


def latent_frame_count(latent: dict, vae) -> int:
    samples = latent["samples"]
    if not is_video_vae(vae):
        return samples.shape[0]
    ratio = vae.upscale_ratio
    temporal = ratio[0] if isinstance(ratio, tuple) else (lambda frames: frames)
    return samples.shape[0] * temporal(samples.shape[2])


def workflow_metadata(prompt, extra_pnginfo) -> dict | None:
    """What core's SaveImage/SaveVideo embed: every extra_pnginfo key (the workflow) plus the prompt."""
    if args.disable_metadata:
        return None
    metadata = dict(extra_pnginfo or {})
    if prompt is not None:
        metadata["prompt"] = prompt
    return metadata or None


def saved_entry(filename: str, subfolder: str, folder_type: str, fmt: str) -> dict:
    return {"filename": filename, "subfolder": subfolder, "type": folder_type, "format": fmt}


def preview_ui(entries: list[dict], extension: str) -> dict:
    """The stock frontend plays `animated` results in a <video> unless they are webp/png (then an
    animated <img>); gifs and png frames are plain images, which browsers animate/show themselves."""
    return {"images": entries, "animated": (extension in VIDEO_PREVIEW_EXTENSIONS,)}


def preview_path(name: str) -> str:
    """Where a browser-playable copy of a file the browser cannot play goes (the temp folder)."""
    folder = folder_paths.get_temp_directory()
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}preview.mp4")


def audio_track(audio: dict | None, frame_count: int, frame_rate: float) -> tuple[np.ndarray, int] | None:
    if audio is None or audio.get("waveform") is None:
        return None
    waveform = audio["waveform"][0].float().cpu().numpy()
    return video_io.trimmed_audio(waveform, audio["sample_rate"], frame_count / frame_rate), audio["sample_rate"]


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
                io.Float.Input("frame_rate", default=8.0, **limits(ENCODE, "frame_rate"), step=1.0, tooltip="Frames per second of the written file."),
                io.Int.Input("loop_count", default=0, **limits(ENCODE, "loop_count"), tooltip="gif/webp: extra plays after the first; 0 loops forever."),
                io.String.Input("filename_prefix", default="Rewind/Rewind",
                                tooltip="File name prefix; may contain subfolders and %date:...% style fields like Save Image."),
                io.Combo.Input("format", options=list(video_io.FORMATS), default="video/h264-mp4", tooltip="Container and codec to write."),
                io.Boolean.Input("pingpong", default=False, tooltip="Play forward then backward (2N-2 frames) for a seamless loop."),
                io.Boolean.Input("save_output", default=True, tooltip="Save to the output folder; off writes a preview to the temp folder."),
                io.Int.Input("crf", default=19, **limits(ENCODE, "crf"),
                             tooltip="Quality: lower is better (h264/h265 0-51, webm 0-63; webp quality is 100-crf; ignored by gif/ProRes/png)."),
                io.Combo.Input("pix_fmt", options=list(video_io.PIX_FMT_CHOICES), default="auto",
                               tooltip="Pixel format; auto picks the format's default (yuv420p for mp4/webm, best compatibility). "
                                       "yuv444p/10-bit keep more colour but play in fewer browsers."),
                io.Audio.Input("audio", optional=True, tooltip="Audio to mux in (mp4/webm/ProRes); cut to the video's length."),
                io.Latent.Input("latent", optional=True, tooltip="Latents to decode with vae chunk by chunk instead of images."),
                io.Vae.Input("vae", optional=True, tooltip="The VAE that decodes latent."),
            ],
            outputs=[io.String.Output("file_path", display_name="file_path", tooltip="Path of the written file (the folder for a png sequence).")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, frame_rate, loop_count, filename_prefix, format, pingpong, save_output, crf, pix_fmt,
                images=None, audio=None, latent=None, vae=None) -> io.NodeOutput:
        try:
            options = video_io.EncodeOptions(format=format, frame_rate=frame_rate, crf=crf, pix_fmt=pix_fmt, loop_count=loop_count)
            video_io.check_options(options)  # fail on a bad value before any decoding work
            video_io.check_filename_prefix(filename_prefix)  # refused here: ComfyUI's message prints server paths
            frames, count = frame_source(images, latent, vae, pingpong)
            first = next(frames)
            return cls.write(itertools.chain([first], frames), first.shape, options, save_output, filename_prefix,
                             audio_track(audio, count, frame_rate))
        except VideoIOError as error:
            raise node_error("RewindVideoCombine", error) from error
        except VideoIOCancelled:
            raise interrupted() from None

    @classmethod
    def write(cls, frames, shape, options, save_output, filename_prefix, audio) -> io.NodeOutput:
        folder_type = "output" if save_output else "temp"
        root = folder_paths.get_output_directory() if save_output else folder_paths.get_temp_directory()
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, root, shape[1], shape[0])
        spec = video_io.FORMATS[options.format]
        metadata = workflow_metadata(cls.hidden.prompt if cls.hidden else None, cls.hidden.extra_pnginfo if cls.hidden else None)
        name = f"{filename}_{counter:05}_"
        if spec.extension == "png":
            paths = video_io.write_png_sequence(frames, os.path.join(folder, name), metadata, stop_requested)
            frames_subfolder = os.path.join(subfolder, name)
            entries = [saved_entry(os.path.basename(p), frames_subfolder, folder_type, options.format) for p in paths]
            return io.NodeOutput(os.path.join(folder, name), ui=preview_ui(entries, spec.extension))
        path = os.path.join(folder, f"{name}.{spec.extension}")
        if spec.browser_plays:
            video_io.encode_video(frames, path, options, audio=audio, metadata=metadata, should_stop=stop_requested)
            entries = [saved_entry(os.path.basename(path), subfolder, folder_type, options.format)]
            return io.NodeOutput(path, ui=preview_ui(entries, spec.extension))
        preview = preview_path(name)
        video_io.encode_video(frames, path, options, audio=audio, metadata=metadata, preview_path=preview,
                              should_stop=stop_requested)
        entries = [saved_entry(os.path.basename(preview), "", "temp", "video/h264-mp4")]
        master = saved_entry(os.path.basename(path), subfolder, folder_type, options.format)  # for API clients to download
        return io.NodeOutput(path, ui={**preview_ui(entries, "mp4"), "rewind_files": [master]})


NODES = [RewindLoadVideo, RewindLoadVideoPath, RewindVideoCombine]
