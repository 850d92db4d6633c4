"""What is in a video file, read from ffmpeg's own report (no ffprobe needed: imageio-ffmpeg
bundles only ffmpeg)."""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from .ffmpeg import StopCheck, VideoIOError, input_args, never_stop, run_ffmpeg, stderr_tail

CHANNEL_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
# ffmpeg's names for colour matrices, mapped to the names its scale filter accepts.
SCALE_MATRICES = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt601": "bt601",
                  "fcc": "fcc", "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020"}


@dataclass(frozen=True)
class VideoProbe:
    path: str
    width: int  # as displayed, after the container's rotation
    height: int
    fps: float
    frame_count: int  # exact: counted from the video packets
    duration: float
    pix_fmt: str
    color_matrix: str | None  # as tagged in the file, None when untagged
    color_range: str | None  # "tv" / "pc" as tagged, None when untagged
    audio_channels: int  # 0: no audio track
    audio_sample_rate: int


def _video_stream_line(report: str) -> str | None:
    return next((line for line in report.splitlines() if re.search(r"Stream #0:\d+.*: Video: ", line)), None)


def parse_video_stream(line: str) -> dict:
    """Codec properties from one `Stream #0:0: Video: ...` line of ffmpeg's report."""
    fields = line.split(": Video: ", 1)[1]
    pix = re.search(r", ([a-z0-9_]+)(?:\(([^)]*)\))?, (\d+)x(\d+)", fields)
    if not pix:
        raise VideoIOError(f"cannot read the frame size from ffmpeg's report: {line.strip()}")
    props = [p.strip() for p in (pix.group(2) or "").split(",")]
    color_range = next((p for p in props if p in ("tv", "pc")), None)
    matrix_tag = next((p.split("/")[0] for p in props if p.split("/")[0] in SCALE_MATRICES), None)
    rate = re.search(r", ([\d.]+)(k?) (?:fps|tbr)", fields)
    fps = float(rate.group(1)) * (1000 if rate.group(2) else 1) if rate else 0.0
    return {"pix_fmt": pix.group(1), "color_range": color_range, "color_matrix": matrix_tag,
            "width": int(pix.group(3)), "height": int(pix.group(4)), "fps": fps}


def parse_audio_stream(report: str) -> tuple[int, int]:
    """(channels, sample rate) of the first audio stream; (0, 0) without one."""
    line = next((line for line in report.splitlines() if re.search(r"Stream #0:\d+.*: Audio: ", line)), None)
    if line is None:
        return 0, 0
    rate = re.search(r"(\d+) Hz, ([^,]+)", line)
    if not rate:
        return 0, 0
    layout = rate.group(2).strip().split("(")[0]
    counted = re.match(r"(\d+) channels", layout)
    channels = int(counted.group(1)) if counted else CHANNEL_LAYOUTS.get(layout, 2)
    return channels, int(rate.group(1))


def parse_duration(report: str) -> float:
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", report)
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3)) if match else 0.0


def parse_rotation(report: str) -> int:
    match = re.search(r"rotation of (-?[\d.]+) degrees", report)
    return round(float(match.group(1))) % 360 if match else 0


def count_video_frames(path: str, should_stop: StopCheck = never_stop) -> int:
    """Exact frame count, by demuxing without decoding (container headers are often wrong)."""
    done = run_ffmpeg([*input_args(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"], should_stop,
                      f"counting the frames of {path!r}")
    counts = re.findall(rb"frame=\s*(\d+)", done.stderr)
    return int(counts[-1]) if counts else 0


# Text that ffmpeg would follow to other files or URLs, or read forever (a live playlist).
UNBOUNDED_SIGNATURES = {b"#EXTM3U": "an HLS playlist", b"<?xml": "an XML file (e.g. a DASH manifest)",
                        b"<MPD": "a DASH manifest", b"ffconcat": "an ffmpeg concat list", b"v=0": "an SDP session description"}
UNBOUNDED_EXTENSIONS = {".m3u8": "an HLS playlist", ".m3u": "a playlist", ".mpd": "a DASH manifest",
                        ".sdp": "an SDP session description", ".ffconcat": "an ffmpeg concat list"}
SNIFF_BYTES = 1024


def unbounded_kind(path: str) -> str | None:
    """What makes a file unsafe to hand to ffmpeg (a playlist or list it would follow), judged by
    name and by content, so a renamed playlist is caught too; None otherwise. Other formats are
    kept out by ffmpeg's demuxer whitelist (ffmpeg.INPUT_DEMUXERS)."""
    extension = os.path.splitext(path)[1].lower()
    if extension in UNBOUNDED_EXTENSIONS:
        return UNBOUNDED_EXTENSIONS[extension]
    with open(path, "rb") as file:
        head = file.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    return next((kind for signature, kind in UNBOUNDED_SIGNATURES.items() if head.startswith(signature)), None)


def check_local_video_file(path: str) -> None:
    """Refuses, before ffmpeg opens anything, what is not a regular file holding media."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise VideoIOError(f"video file not found: {path!r}. Check the path, or upload the file into ComfyUI's input folder.") from None
    if not stat.S_ISREG(mode):
        raise VideoIOError(f"{path!r} is not a regular file (a folder, device or pipe). Choose a video file.")
    kind = unbounded_kind(path)
    if kind:
        raise VideoIOError(f"{path!r} is {kind}, not a video file: playlists and lists can point anywhere or never end. "
                           "Export the video to an mp4/webm/mov file and load that.")


def probe(path: str, should_stop: StopCheck = never_stop) -> VideoProbe:
    """Reads the first video stream's properties; raises VideoIOError naming the file and the fix."""
    check_local_video_file(path)
    report = run_ffmpeg(input_args(path), should_stop, f"reading {path!r}").stderr.decode("utf-8", "replace")
    line = _video_stream_line(report)
    if line is None:
        if "Invalid data" in report or "could not find codec" in report.lower() or "Input #0" not in report:
            raise VideoIOError(f"{path!r} is not a readable video (ffmpeg says: {stderr_tail(report.encode(), 2)}). "
                               "Re-export it as mp4/webm/mov, or check that it is not truncated.")
        raise VideoIOError(f"{path!r} has no video stream (audio-only or data file). Choose a file with video in it.")
    stream = parse_video_stream(line)
    if parse_rotation(report) in (90, 270):
        stream["width"], stream["height"] = stream["height"], stream["width"]
    channels, sample_rate = parse_audio_stream(report)
    frame_count = count_video_frames(path, should_stop)
    if frame_count == 0:
        raise VideoIOError(f"{path!r} has a video stream with no frames in it. Choose another file or re-export it.")
    duration = parse_duration(report) or (frame_count / stream["fps"] if stream["fps"] else 0.0)
    return VideoProbe(path=path, frame_count=frame_count, duration=duration,
                      audio_channels=channels, audio_sample_rate=sample_rate, **stream)
