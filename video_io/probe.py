"""What is in a video file, from what ffmpeg itself writes about it (no ffprobe needed:
imageio-ffmpeg bundles only ffmpeg), never from text the file or its name can carry.

One ffmpeg run gives both: every video and audio packet's timestamps in the framecrc muxer's
machine-readable lines (how many frames, over how long, evenly spaced or not), and the decoded
first frame's size, pixel format and colour tags in the report ffmpeg prints for an output named
by a random token. Tags, chapter titles and file names are printed elsewhere in that report (a
tag can hold "Duration: ..." or a whole fake stream line), so only lines under the token count."""
from __future__ import annotations

import os
import re
import secrets
import stat
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Iterator

import numpy as np

from .ffmpeg import StopCheck, VideoIOError, file_head, input_args, never_stop, stderr_tail, streaming_run

CHANNEL_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
# ffmpeg's names for colour matrices, mapped to the names its scale filter accepts.
SCALE_MATRICES = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt601": "bt601",
                  "fcc": "fcc", "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020"}
STILL_FPS = 25.0  # ffmpeg's rate for a lone image
MAX_FRAMES = 5_000_000  # a day at 60 fps; the probe keeps 16 bytes of timestamps per frame up to this
NO_TIMESTAMP = -(2 ** 63)  # AV_NOPTS_VALUE, as framecrc prints a missing pts or dts


@dataclass(frozen=True)
class VideoProbe:
    path: str
    width: int  # as displayed, after the container's rotation
    height: int
    fps: float  # the even rate, or for variable-rate video the average over its duration
    frame_count: int  # exact: counted from the video packets
    duration: float
    pix_fmt: str
    color_matrix: str | None  # as tagged in the file, None when untagged
    color_range: str | None  # "tv" / "pc" as tagged, None when untagged
    audio_channels: int  # 0: no audio track
    audio_sample_rate: int
    constant_rate: bool = True  # frames evenly spaced: decoding them as they are keeps time
    audio_duration: float = 0.0


# --- the framecrc lines: how many packets, when ------------------------------------------------

@dataclass
class PacketTimes:
    """One stream's packets as the framecrc muxer lists them (`-c copy`, nothing decoded)."""

    media_type: str = ""
    time_base: Fraction = Fraction(0)
    count: int = 0
    pts: array = field(default_factory=lambda: array("q"))
    dts: array = field(default_factory=lambda: array("q"))
    end: int | None = None  # latest pts + duration

    def add(self, dts: int, pts: int, duration: int) -> None:
        self.count += 1
        if self.count <= MAX_FRAMES:  # beyond it the probe refuses the file: counting is enough
            self.pts.append(pts)
            self.dts.append(dts)
        if pts != NO_TIMESTAMP and (self.end is None or pts + duration > self.end):
            self.end = pts + duration

    def timestamps(self) -> np.ndarray:
        """Presentation times, or decode times when a container leaves some out (raw h264, avi)."""
        pts = np.frombuffer(self.pts, dtype=np.int64)
        chosen = pts if not np.any(pts == NO_TIMESTAMP) else np.frombuffer(self.dts, dtype=np.int64)
        return chosen[chosen != NO_TIMESTAMP]

    def seconds(self) -> float:
        """From the first packet's start to the last one's end."""
        times = self.timestamps()
        if not times.size or self.end is None:
            return 0.0
        return float((self.end - times.min()) * self.time_base)


def parse_framecrc(lines: Iterable[bytes]) -> dict[int, PacketTimes]:
    """Packets by stream index from framecrc output: `#tb 0: 1/30` and `#media_type 0: video`
    headers, then one `stream, dts, pts, duration, size, crc...` line per packet."""
    streams: dict[int, PacketTimes] = {}
    for line in lines:
        if line.startswith(b"#"):
            header = re.match(rb"#(tb|media_type) (\d+): (\S+)", line)
            if header:
                stream = streams.setdefault(int(header.group(2)), PacketTimes())
                value = header.group(3).decode()
                if header.group(1) == b"tb":
                    stream.time_base = Fraction(value)
                else:
                    stream.media_type = value
            continue
        fields = line.split(b",", 4)
        if len(fields) == 5:
            streams.setdefault(int(fields[0]), PacketTimes()).add(int(fields[1]), int(fields[2]), int(fields[3]))
    return streams


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines out of chunks read as they come (a line may be split across two)."""
    pending = b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        yield from lines
    if pending:
        yield pending


# --- timing: even or variable rate -------------------------------------------------------------

def fills_grid(times: np.ndarray, period: float) -> bool:
    """Whether the timestamps (in ticks) fill a grid of `period` ticks, one frame per slot and no
    gaps, within the rounding of containers that store milliseconds (mkv, webp) or 1/100 s (gif)."""
    if not period > 0:
        return False
    offsets = (times - times.min()) / period
    slots = np.rint(offsets)
    tolerance = min(1.5 / period, 0.25)  # 1.5 ticks, in periods
    return (float(np.abs(offsets - slots).max()) <= tolerance and slots.max() == len(times) - 1
            and np.unique(slots).size == len(times))


@dataclass(frozen=True)
class Timing:
    fps: float
    duration: float
    constant: bool


def video_timing(packets: PacketTimes, nominal_fps: float) -> Timing:
    """Rate and duration from the packets' timestamps. Evenly spaced frames keep ffmpeg's nominal
    rate when it fits them (it reads 8 fps where gif delays alternate 12 and 13/100 s), else the
    spacing measured end to end; otherwise the rate is the average over the stream's duration."""
    count, times, tick = packets.count, packets.timestamps(), packets.time_base
    if count == 1 or times.size < 2:
        lasts = (packets.end - times.max()) * tick if times.size and packets.end is not None else 0
        fps = nominal_fps or (float(1 / lasts) if lasts > 0 else STILL_FPS)
        return Timing(fps, count / fps, constant=count == 1)
    span = int(times.max() - times.min())
    measured = float((count - 1) / (span * tick)) if span else 0.0
    if times.size == count:
        for fps in (nominal_fps, measured):
            if fps > 0 and fills_grid(times, float(1 / (fps * tick))):
                return Timing(fps, count / fps, constant=True)
    end = packets.end if packets.end is not None and packets.end > times.max() else times.max() + span / (count - 1)
    duration = float((end - times.min()) * tick) or count / (nominal_fps or STILL_FPS)  # all at one instant
    return Timing(count / duration, duration, constant=False)


# --- the report ffmpeg prints for the probe's own output --------------------------------------

def output_section(report: str, token: str) -> list[str]:
    """The indented lines ffmpeg printed under `Output #N, null, to '<token>':`. The token is
    random per run, so neither the file's tags nor its name can print a section of their own."""
    lines = report.splitlines()
    start = next((index for index, line in enumerate(lines)
                  if line.startswith("Output #") and line.endswith(f" to '{token}':")), None)
    if start is None:
        return []
    section = []
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break
        section.append(line)
    return section


def stream_line(section: list[str], kind: str) -> str | None:
    """The `  Stream #1:0: Video: ...` line of a section (its own streams carry no tags: the probe
    drops them with -map_metadata -1, so no language text precedes the kind)."""
    return next((line for line in section if re.match(rf"  Stream #\d+:\d+: {kind}: ", line)), None)


def parse_video_stream(line: str) -> dict:
    """Codec properties from one `Stream #1:0: Video: ...` line of ffmpeg's report."""
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


def parse_audio_stream(line: str | None) -> tuple[int, int]:
    """(channels, sample rate) from one `Stream #1:1: Audio: ...` line; (0, 0) without one."""
    rate = re.search(r"(\d+) Hz, ([^,]+)", line or "")
    if not rate:
        return 0, 0
    layout = rate.group(2).strip().split("(")[0]
    counted = re.match(r"(\d+) channels", layout)
    channels = int(counted.group(1)) if counted else CHANNEL_LAYOUTS.get(layout, 2)
    return channels, int(rate.group(1))


# Text that ffmpeg would follow to other files or URLs, or read forever (a live playlist).
UNBOUNDED_SIGNATURES = {b"#EXTM3U": "an HLS playlist", b"<?xml": "an XML file (e.g. a DASH manifest)",
                        b"<MPD": "a DASH manifest", b"ffconcat": "an ffmpeg concat list", b"v=0": "an SDP session description"}
UNBOUNDED_EXTENSIONS = {".m3u8": "an HLS playlist", ".m3u": "a playlist", ".mpd": "a DASH manifest",
                        ".sdp": "an SDP session description", ".ffconcat": "an ffmpeg concat list"}


def unbounded_kind(path: str) -> str | None:
    """What makes a file unsafe to hand to ffmpeg (a playlist or list it would follow), judged by
    name and by content, so a renamed playlist is caught too; None otherwise. Other formats are
    kept out by ffmpeg's demuxer whitelist (ffmpeg.INPUT_DEMUXERS)."""
    extension = os.path.splitext(path)[1].lower()
    if extension in UNBOUNDED_EXTENSIONS:
        return UNBOUNDED_EXTENSIONS[extension]
    head = file_head(path).lstrip(b"\xef\xbb\xbf \t\r\n")
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


def probe_args(path: str, token: str) -> list[str]:
    """Output 0: every video and audio packet as framecrc lines on stdout (copied, not decoded).
    Output 1: the first video frame and audio frame decoded into a null output named `token`,
    without the file's tags, so its report says what decoding gives (size after rotation)."""
    streams = ["-map", "0:v:0", "-map", "0:a:0?"]
    return ["-nostats", *input_args(path), *streams, "-c", "copy", "-f", "framecrc", "pipe:1",
            *streams, "-frames:v", "1", "-frames:a", "1", "-map_metadata", "-1", "-map_chapters", "-1",
            "-f", "null", token]


def read_probe(path: str, should_stop: StopCheck) -> tuple[dict[int, PacketTimes], str, str]:
    """(packets by stream, ffmpeg's report, the token naming the probe's own output)."""
    token = f"rewind-probe-{secrets.token_hex(8)}"
    with streaming_run(probe_args(path, token), should_stop, f"reading {path!r}") as (run, log):
        streams = parse_framecrc(split_lines(iter(run.read_some, b"")))
        run.wait()
        log.seek(0)
        report = log.read().decode("utf-8", "replace")
    return streams, report, token


def probe(path: str, should_stop: StopCheck = never_stop) -> VideoProbe:
    """Reads the first video stream's properties; raises VideoIOError naming the file and the fix."""
    check_local_video_file(path)
    streams, report, token = read_probe(path, should_stop)
    video = streams.get(0)
    if video is None or video.media_type != "video":
        if "Invalid data" in report or "could not find codec" in report.lower() or "Input #0" not in report:
            raise VideoIOError(f"{path!r} is not a readable video (ffmpeg says: {stderr_tail(report.encode(), 2)}). "
                               "Re-export it as mp4/webm/mov, or check that it is not truncated.")
        raise VideoIOError(f"{path!r} has no video stream (audio-only or data file). Choose a file with video in it.")
    if video.count == 0:
        raise VideoIOError(f"{path!r} has a video stream with no frames in it. Choose another file or re-export it.")
    if video.count > MAX_FRAMES:
        raise VideoIOError(f"{path!r} has {video.count:,} frames, more than the {MAX_FRAMES:,} Rewind plans for. "
                           "Cut it into shorter clips first.")
    section = output_section(report, token)
    line = stream_line(section, "Video")
    if line is None:
        raise VideoIOError(f"{path!r}: ffmpeg cannot decode its first frame ({stderr_tail(report.encode(), 2)}). "
                           "Re-export it as mp4/webm/mov, or check that it is not truncated.")
    stream = parse_video_stream(line)
    timing = video_timing(video, stream.pop("fps"))
    channels, sample_rate = parse_audio_stream(stream_line(section, "Audio"))
    audio = streams.get(1)
    return VideoProbe(path=path, frame_count=video.count, fps=timing.fps, duration=timing.duration,
                      constant_rate=timing.constant, audio_channels=channels, audio_sample_rate=sample_rate,
                      audio_duration=audio.seconds() if audio and channels else 0.0, **stream)
