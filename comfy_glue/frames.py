"""ComfyUI's IMAGE, LATENT and AUDIO values to and from video_io's uint8 frames.

Loading streams uint8 frames from ffmpeg straight into the float IMAGE tensor (or, with a VAE, into
latents chunk by chunk); combining converts one frame at a time to uint8 on its way into ffmpeg.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import psutil
import torch

from .. import video_io
from ..video_io import VideoIOError
from .interrupt import stop_requested

VAE_CHUNK_FRAMES = 16  # frames per VAE call: bounds the float copy alive at once


def is_video_vae(vae) -> bool:
    """Video VAEs (Wan, Hunyuan...) compress time: their frames must be encoded in one call."""
    return getattr(vae, "latent_dim", 2) == 3


# --- loading ------------------------------------------------------------------------------------

def load_video(path: str, request: video_io.LoadRequest, vae=None) -> tuple:
    """The loaders' outputs for the file at `path`: IMAGE (empty when a vae encodes), frame count, fps,
    AUDIO, video info and LATENT (None without a vae). A load whose floats (frames and audio) cannot fit in
    RAM is refused before decoding."""
    plan = video_io.plan_load(video_io.probe(path, stop_requested), request)
    video_io.check_memory(plan, psutil.virtual_memory().available, images=vae is None or is_video_vae(vae))
    if vae is None:
        images, latent = torch.from_numpy(video_io.load_frames(plan, stop_requested)), None
        count = len(images)
    else:
        samples, count = encode_to_latent(plan, vae)
        images, latent = torch.zeros((0, plan.height, plan.width, 3)), {"samples": samples}
    return images, count, plan.fps, audio_output(plan, count), video_io.video_info(plan, count), latent


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


def audio_array(audio: dict | None) -> tuple[np.ndarray, int] | None:
    """AUDIO as video_io takes it: float32 (channels, samples) of the first batch item, and its rate."""
    if audio is None or audio.get("waveform") is None:
        return None
    return audio["waveform"][0].float().cpu().numpy(), audio["sample_rate"]


def audio_track(audio: dict | None, frame_count: int, frame_rate: float) -> tuple[np.ndarray, int] | None:
    """AUDIO cut to the length of `frame_count` frames, for muxing under them."""
    track = audio_array(audio)
    if track is None:
        return None
    waveform, sample_rate = track
    return video_io.trimmed_audio(waveform, sample_rate, frame_count / frame_rate), sample_rate
