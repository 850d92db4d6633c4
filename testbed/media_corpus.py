"""Hostile inputs the tests make themselves at run time (no downloaded samples): broken and odd
video files, playlists that never end or point elsewhere, and an ffmpeg test double that hangs
the way a blocked ffmpeg does.

Shared by the hostile and unit tiers. Each builder writes into a folder and returns the file's
path; `build_corpus` makes all of them.
"""
from __future__ import annotations

import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import psutil

from rewind import video_io as vio
from rewind.video_io.ffmpeg import ffmpeg_path
from rewind.video_io.metadata import encode_png

# File names the ffmpeg double reacts to (see write_ffmpeg_double).
HANG_PROBE = "hang-probe"
HANG_DECODE = "hang-decode"
SLOW_ENCODE = "slow-encode"
STALL_SECONDS = 20  # REWIND_FFMPEG_TIMEOUT for the server running the double: a hang nobody cancels fails after this


def gradient_frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return [np.broadcast_to((ramp + 9 * i) % 256, (height, width, 3)).astype(np.uint8) for i in range(count)]


def good_clip(folder: Path, name: str = "good.mp4", count: int = 12, width: int = 64, height: int = 48) -> Path:
    path = folder / name
    vio.encode_video(gradient_frames(count, width, height), str(path), vio.EncodeOptions(frame_rate=8.0))
    return path


def noise_clip(folder: Path, name: str, count: int, width: int = 320, height: int = 240) -> Path:
    """Frames that compress badly, so writing each one (e.g. as PNG) takes measurable time."""
    rng = np.random.default_rng(5)
    frames = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count))
    path = folder / name
    vio.encode_video(frames, str(path), vio.EncodeOptions(frame_rate=24.0, crf=40))
    return path


def odd_size_gif(folder: Path) -> Path:
    """63x47: odd sizes are legal in gif and must load at their own size."""
    path = folder / "odd-63x47.gif"
    vio.encode_video(gradient_frames(4, 63, 47), str(path), vio.EncodeOptions(format="image/gif"))
    return path


def one_pixel_gif(folder: Path) -> Path:
    path = folder / "one-pixel.gif"
    vio.encode_video(gradient_frames(3, 1, 1), str(path), vio.EncodeOptions(format="image/gif"))
    return path


def truncated_clip(folder: Path, good: Path) -> Path:
    """The first kilobyte of a real mp4: its index is cut off."""
    path = folder / "truncated.mp4"
    path.write_bytes(good.read_bytes()[:1024])
    return path


def corrupt_clip(folder: Path, good: Path) -> Path:
    """A real mp4's header boxes followed by noise where the frames should be."""
    data = good.read_bytes()
    noise = np.random.default_rng(9).integers(0, 256, len(data) - 64, dtype=np.uint8).tobytes()
    path = folder / "corrupt.mp4"
    path.write_bytes(data[:64] + noise)
    return path


def empty_file(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def audio_only(folder: Path) -> Path:
    path = folder / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(struct.pack("<800h", *([1000] * 800)))
    return path


def live_playlist(folder: Path) -> tuple[Path, Path]:
    """An HLS playlist with no #EXT-X-ENDLIST (ffmpeg reloads it forever) and its one segment."""
    segment = folder / "seg0.ts"
    vio.encode_video(gradient_frames(8), str(folder / "seg0.mp4"), vio.EncodeOptions(frame_rate=8.0))
    segment.write_bytes(_remux_to_ts(folder / "seg0.mp4"))
    (folder / "seg0.mp4").unlink()
    playlist = folder / "live.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
                        "#EXTINF:1.0,\nseg0.ts\n")
    return playlist, segment


def _remux_to_ts(mp4: Path) -> bytes:
    done = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(mp4), "-c", "copy", "-f", "mpegts", "-"],
                          capture_output=True, timeout=60, check=True)
    return done.stdout


def made_by_ffmpeg(path: Path, *args: str) -> Path:
    """Runs the real ffmpeg on lavfi sources (nothing downloaded) to write `path`, named literally."""
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", *args, f"file:{path}"], capture_output=True, timeout=120, check=True)
    return path


def lying_clip(folder: Path, name: str, title: str = "", size: str = "64x48", seconds: int = 2) -> Path:
    """A 30 fps test clip whose title tag (and `name`) may print fake lines into ffmpeg's report,
    e.g. `Duration: 00:00:01.00` or a whole `Stream #0:0: Video: ...` line."""
    return made_by_ffmpeg(folder / name, "-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}",
                          "-metadata", f"title={title}", "-c:v", "libx264")


VFR_SECONDS = 13.06


def variable_rate_clip(folder: Path) -> Path:
    """50 frames spread unevenly over 13.06 s (0.5 s apart at first, 10 ms apart at the end) with
    13.06 s of audio: a screen or phone recording's timing. Matroska states no average rate, so
    ffmpeg's report says 25 fps."""
    return made_by_ffmpeg(folder / "vfr.mkv", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2", "-f", "lavfi",
                          "-i", f"sine=d={VFR_SECONDS}", "-vf", f"settb=1/1000,setpts='{VFR_SECONDS * 1000}*(1-(1-N/50)*(1-N/50))'",
                          "-fps_mode", "passthrough", "-enc_time_base:v", "1/1000", "-c:v", "libx264", "-c:a", "libopus")


def long_audio_clip(folder: Path) -> Path:
    """1200 16x16 frames at 1 fps over 20 minutes of silent stereo opus: under a megabyte on disk,
    460 MB as float32 AUDIO."""
    return made_by_ffmpeg(folder / "long-audio.mkv", "-f", "lavfi", "-i", "testsrc2=s=16x16:r=1:d=1200", "-f", "lavfi",
                          "-i", "anullsrc=r=48000:cl=stereo:d=1200", "-c:v", "libx264", "-c:a", "libopus")


def numbered_stills(folder: Path) -> Path:
    """seq0.png ... seq9.png (64x48) beside one 32x16 still named `seq%d.png`, which ffmpeg's
    image2 demuxer would read as the pattern for the other ten."""
    for index in range(10):
        (folder / f"seq{index}.png").write_bytes(encode_png(gradient_frames(1)[0]))
    path = folder / "seq%d.png"
    path.write_bytes(encode_png(gradient_frames(1, 32, 16)[0]))
    return path


def disguised_playlists(folder: Path) -> list[Path]:
    """Playlists and lists under video names: ffmpeg would follow them to other files or URLs."""
    cases = {
        "live-renamed.mp4": "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nhttp://127.0.0.1:9/seg0.ts\n",
        "concat.mp4": "ffconcat version 1.0\nfile '/etc/hostname'\n",
        "dash.mp4": '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"></MPD>\n',
        "manifest.mpd": '<MPD type="dynamic"></MPD>\n',
    }
    paths = []
    for name, text in cases.items():
        paths.append(folder / name)
        paths[-1].write_text(text)
    return paths


def write_ffmpeg_double(path: Path) -> Path:
    """An ffmpeg stand-in for the server ($REWIND_FFMPEG_PATH): the real ffmpeg, except that a run
    naming a `hang-probe` file (or decoding a `hang-decode` file) blocks forever ignoring SIGTERM,
    as ffmpeg does waiting on a stalled input, and a run writing a `slow-encode` file reads its
    frames in real time (-re), so a real, growing partial file exists when Cancel arrives."""
    real = ffmpeg_path()
    path.write_text(f"""#!/bin/sh
case "$*" in
  *{SLOW_ENCODE}*) exec "{real}" -re "$@" ;;
  *{HANG_PROBE}*|*{HANG_DECODE}*rawvideo*) trap '' TERM INT; exec sleep 3600 ;;
esac
exec "{real}" "$@"
""")
    path.chmod(0o755)
    return path


def ffmpeg_children(pid: int) -> list[str]:
    """Names of ffmpeg processes (or the double's sh/sleep) still alive under process `pid`."""
    alive = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and ("ffmpeg" in child.name() or child.name() in ("sh", "sleep")):
                alive.append(child.name())
        except psutil.NoSuchProcess:
            pass
    return alive


def build_corpus(folder: Path) -> dict[str, Path]:
    """Every corpus file in `folder`, by a short name."""
    folder.mkdir(parents=True, exist_ok=True)
    good = good_clip(folder)
    playlist, segment = live_playlist(folder)
    corpus = {"good": good, "odd_size": odd_size_gif(folder), "one_pixel": one_pixel_gif(folder),
              "truncated": truncated_clip(folder, good), "corrupt": corrupt_clip(folder, good),
              "empty": empty_file(folder), "audio_only": audio_only(folder), "live_playlist": playlist,
              "segment": segment, "hang_probe": good_clip(folder, f"{HANG_PROBE}.mp4"),
              "hang_decode": good_clip(folder, f"{HANG_DECODE}.mp4")}
    corpus.update({path.stem: path for path in disguised_playlists(folder)})
    return corpus
