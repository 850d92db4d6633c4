"""Integration tests of the video nodes in an in-process ComfyUI (CPU): schemas, load/combine
through `execute` with folder_paths pointed at a temp dir, VAE chunking, errors, peak memory."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from rewind import video_io as vio
from rewind.video_io import metadata as meta
from rewind.video_io.ffmpeg import run_ffmpeg
from rewind.testbed import REPO_ROOT

WORKFLOW = {"nodes": [{"id": 7, "type": "RewindVideoCombine"}], "links": []}
PROMPT = {"7": {"class_type": "RewindVideoCombine", "inputs": {"format": "video/h264-mp4"}}}
LOAD_DEFAULTS = dict(force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0, skip_first_frames=0,
                     select_every_nth=1, model_preset="none", resize_mode="crop")
COMBINE_DEFAULTS = dict(frame_rate=8.0, loop_count=0, filename_prefix="tests/clip", format="video/h264-mp4",
                        pingpong=False, save_output=True, crf=19, pix_fmt="auto")


@pytest.fixture
def video_nodes(comfy, tmp_path, monkeypatch):
    """The node module, with ComfyUI's input/output/temp folders in tmp_path."""
    import folder_paths

    for kind in ("input", "output", "temp"):
        (tmp_path / kind).mkdir()
    monkeypatch.setattr(folder_paths, "input_directory", str(tmp_path / "input"))
    monkeypatch.setattr(folder_paths, "output_directory", str(tmp_path / "output"))
    monkeypatch.setattr(folder_paths, "temp_directory", str(tmp_path / "temp"))
    from rewind.nodes import video

    return video


def grey_clip(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    return [np.full((height, width, 3), 8 * (i % 32) + 4, np.uint8) for i in range(count)]


def clip_with_audio(path: Path, count: int = 12, fps: float = 8.0) -> Path:
    tone = np.sin(np.linspace(0, 800 * np.pi, 16000 * 2, dtype=np.float32))[None].repeat(2, 0) * 0.3
    vio.encode_video(grey_clip(count), str(path), vio.EncodeOptions(frame_rate=fps, crf=0, pix_fmt="yuv444p"), audio=(tone, 16000))
    return path


class StubImageVAE:
    """Shape-faithful stand-in for an SD VAE (8x spatial, 4 channels) that records its call sizes."""

    latent_dim = 2

    def __init__(self):
        self.encode_batches, self.decode_batches = [], []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.encode_batches.append(len(pixels))
        pooled = torch.nn.functional.avg_pool2d(pixels.movedim(-1, 1), 8)
        return torch.cat([pooled, pooled.mean(1, keepdim=True)], dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.decode_batches.append(len(latent))
        return torch.nn.functional.interpolate(latent[:, :3], scale_factor=8).movedim(1, -1)


class StubVideoVAE:
    """Stand-in for a Wan-style video VAE: 4x temporal (4n+1 frames), 16x spatial; one call per clip."""

    latent_dim = 3
    upscale_ratio = (lambda frames: max(0, frames * 4 - 3), 16, 16)

    def __init__(self):
        self.calls = []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls.append(("encode", len(pixels)))
        frames, height, width, _ = pixels.shape
        return torch.zeros(1, 16, (frames + 3) // 4, height // 16, width // 16)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.calls.append(("decode", latent.shape[2]))
        _, _, frames, height, width = latent.shape
        return torch.full((1, frames * 4 - 3, height * 16, width * 16, 3), 0.5)


def tooltips_missing(schema) -> list[str]:
    return [item.id for item in schema.inputs if not item.tooltip]


def test_schemas_have_exact_names_descriptions_and_tooltips(video_nodes):
    expected_load_inputs = ["video", *LOAD_DEFAULTS, "vae", "core_video"]  # new inputs go last: saved workflows keep loading
    for node in (video_nodes.RewindLoadVideo, video_nodes.RewindLoadVideoPath):
        schema = node.define_schema()
        assert schema.node_id.startswith("Rewind") and schema.category.startswith("Rewind/") and schema.description
        assert [item.id for item in schema.inputs] == expected_load_inputs
        assert [item.id for item in schema.outputs] == ["images", "frame_count", "fps", "audio", "video_info", "latent"]
        assert not tooltips_missing(schema)
    combine = video_nodes.RewindVideoCombine.define_schema()
    assert combine.is_output_node and combine.description and not tooltips_missing(combine)
    assert {"images", "frame_rate", "loop_count", "filename_prefix", "format", "pingpong", "save_output", "crf",
            "pix_fmt", "audio", "latent", "vae"} == {item.id for item in combine.inputs}
    assert [item.id for item in combine.outputs] == ["file_path", "video"]  # appended: saved links keep their slots
    infos = {node.__name__: node.GET_NODE_INFO_V1() for node in video_nodes.NODES}  # ComfyUI's own schema checks
    assert infos["RewindLoadVideo"]["input"]["required"]["video"][1]["video_upload"] is True
    assert infos["RewindVideoCombine"]["output_node"] is True
    assert video_nodes.NODES == [video_nodes.RewindLoadVideo, video_nodes.RewindLoadVideoPath, video_nodes.RewindVideoCombine]


def test_load_video_from_input_folder_outputs_in_order(video_nodes, tmp_path):
    from rewind.comfy_glue.folders import video_files_in_input

    clip_with_audio(tmp_path / "input" / "clip.mp4")
    assert "clip.mp4" in video_files_in_input()
    out = video_nodes.RewindLoadVideo.execute(video="clip.mp4", **{**LOAD_DEFAULTS, "select_every_nth": 2})
    images, frame_count, fps, audio, info, latent = out.args
    assert images.shape == (6, 48, 64, 3) and images.dtype == torch.float32 and frame_count == 6
    assert fps == 4.0 and latent is None
    assert audio["sample_rate"] == 16000 and audio["waveform"].shape[:2] == (1, 2)
    assert audio["waveform"].shape[2] == 16000 * 12 // 8
    assert info["source_frame_count"] == 12 and info["loaded_frame_count"] == 6
    assert torch.allclose(images[:, 0, 0, 0] * 255, torch.tensor([4.0, 20, 36, 52, 68, 84]), atol=1.5)


def test_load_video_path_accepts_quoted_paths(video_nodes, tmp_path):
    path = clip_with_audio(tmp_path / "output" / "earlier.mp4")
    images, frame_count, *_ = video_nodes.RewindLoadVideoPath.execute(video=f' "{path}" ', **LOAD_DEFAULTS).args
    assert frame_count == 12 == len(images)


def test_load_with_vae_encodes_in_chunks_and_skips_images(video_nodes, tmp_path):
    path = tmp_path / "input" / "long.mp4"
    vio.encode_video(grey_clip(20), str(path), vio.EncodeOptions())
    vae = StubImageVAE()
    images, frame_count, _, _, _, latent = video_nodes.RewindLoadVideoPath.execute(video=str(path), vae=vae, **LOAD_DEFAULTS).args
    assert latent["samples"].shape == (20, 4, 6, 8) and frame_count == 20
    assert len(images) == 0
    assert vae.encode_batches == [16, 4]


def test_video_vae_gets_the_whole_clip_in_one_call(video_nodes, tmp_path):
    path = tmp_path / "input" / "wan.mp4"
    vio.encode_video(grey_clip(20, width=64, height=48), str(path), vio.EncodeOptions(frame_rate=16))
    vae = StubVideoVAE()
    request = {**LOAD_DEFAULTS, "model_preset": "Wan2.1 (16 fps, 4n+1 frames, 16 px)"}
    _, frame_count, _, _, _, latent = video_nodes.RewindLoadVideoPath.execute(video=str(path), vae=vae, **request).args
    assert frame_count == 17 and vae.calls == [("encode", 17)]
    assert latent["samples"].shape == (1, 16, 5, 3, 4)
    out = video_nodes.RewindVideoCombine.execute(latent=latent, vae=vae, **{**COMBINE_DEFAULTS, "frame_rate": 16.0})
    assert vio.probe(out.args[0]).frame_count == 17 and vae.calls[-1] == ("decode", 5)


def test_combine_writes_counted_files_with_workflow_and_preview(video_nodes, tmp_path):
    node = video_nodes.RewindVideoCombine.PREPARE_CLASS_CLONE({"PROMPT": PROMPT, "EXTRA_PNGINFO": {"workflow": WORKFLOW}})
    images = torch.rand(9, 48, 64, 3)
    audio = {"waveform": torch.zeros(1, 2, 48000), "sample_rate": 48000}
    first = node.execute(images=images, audio=audio, **COMBINE_DEFAULTS)
    second = node.execute(images=images, **{**COMBINE_DEFAULTS, "pingpong": True})
    assert Path(first.args[0]).name == "clip_00001_.mp4" and Path(second.args[0]).name == "clip_00002_.mp4"
    assert first.ui == {"images": [{"filename": "clip_00001_.mp4", "subfolder": "tests", "type": "output",
                                    "format": "video/h264-mp4"}], "animated": (True,)}
    tags = meta.parse_ffmetadata(run_ffmpeg(["-i", first.args[0], "-f", "ffmetadata", "-"]).stdout.decode())
    assert json.loads(tags["workflow"]) == WORKFLOW and json.loads(tags["prompt"]) == PROMPT
    probed = vio.probe(first.args[0])
    assert probed.frame_count == 9 and probed.audio_channels == 2
    assert probed.duration == pytest.approx(9 / 8, abs=0.03)  # the 6 s of audio was cut to the video
    assert vio.probe(second.args[0]).frame_count == 2 * 9 - 2


def test_combine_preview_to_temp_and_gif_shows_as_image(video_nodes, tmp_path):
    out = video_nodes.RewindVideoCombine.execute(images=torch.rand(3, 32, 32, 3),
                                                 **{**COMBINE_DEFAULTS, "save_output": False, "format": "image/gif"})
    assert Path(out.args[0]).parent == tmp_path / "temp" / "tests"
    assert out.ui["images"][0]["type"] == "temp" and out.ui["animated"] == (False,)


def test_prores_gets_an_h264_preview_from_the_same_pass(video_nodes, tmp_path):
    out = video_nodes.RewindVideoCombine.execute(images=torch.rand(5, 32, 48, 3), **{**COMBINE_DEFAULTS, "format": "video/ProRes"})
    assert Path(out.args[0]).suffix == ".mov" and vio.probe(out.args[0]).pix_fmt == "yuv422p10le"
    entry = out.ui["images"][0]
    preview = tmp_path / "temp" / entry["subfolder"] / entry["filename"]
    assert entry["type"] == "temp" and preview.suffix == ".mp4" and out.ui["animated"] == (True,)
    assert vio.probe(str(preview)).frame_count == 5 and vio.probe(str(preview)).pix_fmt == "yuv420p"
    # the master reaches API clients as a name inside the output folder, never as a server path
    assert out.ui["rewind_files"] == [{"filename": Path(out.args[0]).name, "subfolder": "tests", "type": "output",
                                       "format": "video/ProRes"}]


def test_combine_png_sequence_writes_a_folder(video_nodes, tmp_path):
    out = video_nodes.RewindVideoCombine.execute(images=torch.rand(4, 32, 32, 3),
                                                 **{**COMBINE_DEFAULTS, "format": "image/png-sequence"})
    folder = Path(out.args[0])
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir())[-1] == "frame_00004.png"
    assert [entry["subfolder"] for entry in out.ui["images"]] == ["tests/clip_00001_"] * 4


def test_combine_from_latent_decodes_in_chunks(video_nodes):
    vae = StubImageVAE()
    latent = {"samples": torch.rand(20, 4, 4, 4)}
    out = video_nodes.RewindVideoCombine.execute(latent=latent, vae=vae, **COMBINE_DEFAULTS)
    assert vio.probe(out.args[0]).frame_count == 20
    assert vae.decode_batches == [16, 4]


def test_to_uint8_rounds():
    from rewind.comfy_glue.frames import to_uint8

    frame = torch.tensor([[[0.0, 0.999 / 255, 1.2], [0.5, 1.0, -1.0]]])
    assert to_uint8(frame).tolist() == [[[0, 1, 255], [128, 255, 0]]]


# --- errors -------------------------------------------------------------------------------------

def test_load_errors_name_the_node_and_file_relative_to_its_folder(video_nodes, tmp_path):
    with pytest.raises(ValueError, match=r"^RewindLoadVideoPath: video file not found: 'input/missing\.mp4'"):
        video_nodes.RewindLoadVideoPath.execute(video=str(tmp_path / "input" / "missing.mp4"), **LOAD_DEFAULTS)
    assert video_nodes.RewindLoadVideo.validate_inputs(video="nope.mp4").startswith("RewindLoadVideo: video 'nope.mp4' is not")
    (tmp_path / "input" / "junk.mp4").write_bytes(b"\0junk" * 100)
    with pytest.raises(ValueError) as error:
        video_nodes.RewindLoadVideo.execute(video="junk.mp4", **LOAD_DEFAULTS)
    assert str(error.value).startswith("RewindLoadVideo: 'input/junk.mp4' is not a readable video") and str(tmp_path) not in str(error.value)


def test_upload_loader_stays_in_the_input_folder(video_nodes, tmp_path):
    outside = clip_with_audio(tmp_path / "outside.mp4")
    (tmp_path / "input" / "link.mp4").symlink_to(outside)
    for name in ("../outside.mp4", str(outside), "link.mp4", "sub/../../outside.mp4"):
        verdict = video_nodes.RewindLoadVideo.validate_inputs(video=name)
        assert verdict.startswith("RewindLoadVideo: video '") and "is not a file in ComfyUI's input folder" in verdict
        with pytest.raises(ValueError, match="^RewindLoadVideo: video .* is not a file in ComfyUI's input folder"):
            video_nodes.RewindLoadVideo.execute(video=name, **LOAD_DEFAULTS)


def test_path_loader_refuses_outside_paths_alike_unless_allowed(video_nodes, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    readable = clip_with_audio(elsewhere / "clip.mp4")
    (elsewhere / "junk.mp4").write_bytes(b"\0junk" * 100)
    messages = set()
    for path in (readable, elsewhere / "junk.mp4", elsewhere / "missing.mp4", "../elsewhere/clip.mp4", "~/x.mp4"):
        assert video_nodes.RewindLoadVideoPath.validate_inputs(video=str(path)) != True  # noqa: E712
        with pytest.raises(ValueError) as error:
            video_nodes.RewindLoadVideoPath.execute(video=str(path), **LOAD_DEFAULTS)
        messages.add(str(error.value))
    assert len(messages) == 1 and str(tmp_path) not in messages.pop()
    monkeypatch.setenv("REWIND_ALLOWED_VIDEO_DIRS", str(elsewhere))
    assert video_nodes.RewindLoadVideoPath.validate_inputs(video=str(readable)) is True
    assert video_nodes.RewindLoadVideoPath.execute(video=str(readable), **LOAD_DEFAULTS).args[1] == 12


def test_load_refuses_what_does_not_fit_in_ram(video_nodes, tmp_path, monkeypatch):
    path = clip_with_audio(tmp_path / "input" / "clip.mp4")
    tiny = type("Memory", (), {"available": 64 * 48 * 3 * 4 * 5})()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: tiny)
    # each frame is 36864 bytes of IMAGE plus 16000 of AUDIO (1/8 s of 16 kHz stereo): 2 fit in 80% of 5 frames
    with pytest.raises(ValueError, match=r"^RewindLoadVideoPath: .*12 frames at 64x48 and 1\.5 s of audio.*about 2 frames fit.*frame_load_cap"):
        video_nodes.RewindLoadVideoPath.execute(video=str(path), **LOAD_DEFAULTS)


def test_combine_errors(video_nodes):
    with pytest.raises(ValueError, match="^RewindVideoCombine: nothing to write"):
        video_nodes.RewindVideoCombine.execute(**COMBINE_DEFAULTS)
    with pytest.raises(ValueError, match="^RewindVideoCombine: pix_fmt 'yuv422p10le' does not work with video/webm"):
        video_nodes.RewindVideoCombine.execute(images=torch.rand(2, 8, 8, 3), **{**COMBINE_DEFAULTS, "format": "video/webm",
                                                                               "pix_fmt": "yuv422p10le"})
    with pytest.raises(ValueError, match="^RewindVideoCombine: the images input is an empty batch"):
        video_nodes.RewindVideoCombine.execute(images=torch.zeros(0, 8, 8, 3), **COMBINE_DEFAULTS)


def test_a_crf_past_the_codec_is_refused_before_any_frame_is_decoded(video_nodes):
    """Before: crf was checked against the codec only once frames flowed, so a latent input was decoded first."""
    vae = StubImageVAE()
    with pytest.raises(ValueError, match=r"^RewindVideoCombine: crf 70 is out of range for video/h264-mp4: use 0 to 51"):
        video_nodes.RewindVideoCombine.execute(latent={"samples": torch.rand(20, 4, 4, 4)}, vae=vae,
                                               **{**COMBINE_DEFAULTS, "crf": 70})
    assert vae.decode_batches == []


PEAK_RSS_SCRIPT = textwrap.dedent("""
    import json, resource, sys, types
    root, comfy_path, out_dir = sys.argv[1:4]
    sys.path.insert(0, comfy_path)
    alias = types.ModuleType("rewind"); alias.__path__ = [root]; sys.modules["rewind"] = alias
    from comfy.cli_args import args; args.cpu = True
    import torch, folder_paths
    folder_paths.output_directory = out_dir
    from rewind.nodes.video import RewindVideoCombine
    images = torch.rand(240, 512, 512, 3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    RewindVideoCombine.execute(images=images, frame_rate=24.0, loop_count=0, filename_prefix="rss", format="video/h264-mp4",
                               pingpong=False, save_output=True, crf=30, pix_fmt="auto")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"growth": after - before, "uint8_clip": 240 * 512 * 512 * 3}))
""")


def test_combine_peak_memory_stays_below_one_uint8_copy(comfy, tmp_path):
    """240 frames at 512x512: the Python process may grow by less than a uint8 copy of the clip
    (189 MB) above the float input: frames must stream, not be converted as a batch."""
    done = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(REPO_ROOT), str(comfy), str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["growth"] < report["uint8_clip"], report


# --- where results go ---------------------------------------------------------------------------

def test_a_prefix_ending_in_a_separator_names_a_folder_and_counts_in_it(video_nodes, tmp_path):
    """Before: 'trail/' wrote output/trail_00001_.mp4 every time (ComfyUI's counter read the prefix as empty)."""
    written = [video_nodes.RewindVideoCombine.execute(images=torch.rand(n, 16, 16, 3), **{**COMBINE_DEFAULTS, "filename_prefix": "trail/"})
               for n in (2, 3)]
    assert [Path(out.args[0]).relative_to(tmp_path) for out in written] == [Path("output/trail/Rewind_00001_.mp4"),
                                                                           Path("output/trail/Rewind_00002_.mp4")]
    assert [vio.probe(out.args[0]).frame_count for out in written] == [2, 3]


def test_a_prores_preview_follows_its_subfolder_and_never_replaces_one(video_nodes, tmp_path):
    stale = tmp_path / "temp" / "userA" / "clip_00001_preview.mp4"
    stale.parent.mkdir()
    stale.write_bytes(b"an older preview")
    out = video_nodes.RewindVideoCombine.execute(images=torch.rand(2, 16, 16, 3),
                                                 **{**COMBINE_DEFAULTS, "format": "video/ProRes", "filename_prefix": "userA/clip"})
    assert out.ui["images"][0] == {"filename": "clip_00002_preview.mp4", "subfolder": "userA", "type": "temp",
                                   "format": "video/h264-mp4"}
    assert stale.read_bytes() == b"an older preview" and Path(out.args[0]).name == "clip_00001_.mov"


@pytest.mark.parametrize("prefix, says", [
    ("A" * 250, r"filename_prefix 'AAAAAAAAAAAA\.\.\.AAAAAAAAAAAAA' makes a file or folder name too long .*; shorten it\.$"),
    ("taken.mp4/clip", r"filename_prefix 'taken\.mp4/clip' needs 'output/taken\.mp4' to be a folder, but it is a file; "
                       r"choose another prefix\.$"),
    ("taken.mp4/sub/clip", r"filename_prefix 'taken\.mp4/sub/clip' needs 'output/taken\.mp4' to be a folder"),
])
def test_what_the_file_system_refuses_is_one_line_naming_the_prefix(video_nodes, tmp_path, prefix, says):
    """Before: a raw OSError with the server path (from the partial's cleanup, hiding ffmpeg's error), or
    ComfyUI's NotADirectoryError."""
    (tmp_path / "output" / "taken.mp4").write_bytes(b"a file")
    with pytest.raises(ValueError, match="^RewindVideoCombine: " + says) as error:
        video_nodes.RewindVideoCombine.execute(images=torch.rand(2, 16, 16, 3), **{**COMBINE_DEFAULTS, "filename_prefix": prefix})
    assert str(tmp_path) not in str(error.value) and sorted(os.listdir(tmp_path / "output")) == ["taken.mp4"]


# --- ComfyUI's own VIDEO in and out -------------------------------------------------------------

def core_api():
    from rewind.comfy_glue.api import api

    return api


def numbered_levels(images: torch.Tensor) -> list[int]:
    """grey_clip's frame numbers back from decoded frames (level 8*i + 4)."""
    return [int(round((float(frame.mean()) * 255 - 4) / 8)) for frame in images]


def test_a_file_backed_video_is_decoded_by_the_loader_with_its_options(video_nodes, tmp_path):
    clip = clip_with_audio(tmp_path / "input" / "clip.mp4")
    video = core_api().InputImpl.VideoFromFile(str(clip))
    images, count, fps, audio, _, _ = video_nodes.RewindLoadVideoPath.execute(
        video="", core_video=video, **{**LOAD_DEFAULTS, "select_every_nth": 2, "custom_width": 32}).args
    assert (count, fps, tuple(images.shape)) == (6, 4.0, (6, 24, 32, 3)) and numbered_levels(images) == [0, 2, 4, 6, 8, 10]
    assert audio["sample_rate"] == 16000 and audio["waveform"].shape == (1, 2, 16000 * 12 // 8)


def test_a_video_held_in_memory_is_loaded_with_the_same_options(video_nodes, tmp_path):
    """Create Video's frames and a VideoFromFile over bytes (API nodes' downloads) go through a scratch copy."""
    api = core_api()
    clip = clip_with_audio(tmp_path / "clip.mp4")
    frames = torch.from_numpy(np.stack(grey_clip(12))).float() / 255
    tone = {"waveform": torch.full((1, 1, 8000 * 2), 0.25), "sample_rate": 8000}  # 2 s, as clip_with_audio's
    made = api.InputImpl.VideoFromComponents(api.Types.VideoComponents(images=frames, audio=tone, frame_rate=Fraction(8)))
    in_memory = api.InputImpl.VideoFromFile(io.BytesIO(clip.read_bytes()))
    for video in (made, in_memory):
        images, count, fps, audio, _, _ = video_nodes.RewindLoadVideo.execute(
            video="", core_video=video, **{**LOAD_DEFAULTS, "skip_first_frames": 1, "select_every_nth": 3}).args
        assert (count, fps) == (4, 8 / 3) and numbered_levels(images) == [1, 4, 7, 10]
        assert audio["waveform"].shape[-1] == round(4 * 3 / 8 * audio["sample_rate"])
    assert list(tmp_path.glob("**/*.partial")) == []


def test_a_trimmed_video_is_read_through_its_components(video_nodes, tmp_path):
    """Trim Video (ComfyUI 0.14+) keeps the file and records a window: 0.23+ report it, 0.14-0.22 keep it in
    private fields. Reading the whole file would ignore the trim."""
    api = core_api()
    clip = clip_with_audio(tmp_path / "input" / "clip.mp4")
    head = api.Types.VideoComponents(images=torch.full((3, 48, 64, 3), 0.5), audio=None, frame_rate=Fraction(8))

    class Trimmed(api.InputImpl.VideoFromFile):  # the 0.23+ shape
        def get_active_trim_window(self):
            return 0.0, 3 / 8

        def get_components(self):
            return head

    older = Trimmed.__bases__[0](str(clip))  # the 0.14-0.22 shape
    older._VideoFromFile__duration = 3 / 8
    older.get_components = lambda: head
    for video in (Trimmed(str(clip)), older):
        assert video_nodes.RewindLoadVideo.execute(video="", core_video=video, **LOAD_DEFAULTS).args[1] == 3


def test_a_video_file_outside_the_allowed_folders_is_refused_like_a_typed_path(video_nodes, tmp_path):
    outside = clip_with_audio(tmp_path / "outside.mp4")
    with pytest.raises(ValueError) as typed:
        video_nodes.RewindLoadVideoPath.execute(video=str(outside), **LOAD_DEFAULTS)
    with pytest.raises(ValueError) as linked:
        video_nodes.RewindLoadVideo.execute(video="", core_video=core_api().InputImpl.VideoFromFile(str(outside)), **LOAD_DEFAULTS)
    assert str(linked.value) == str(typed.value).replace("RewindLoadVideoPath: video:", "RewindLoadVideo: core_video:")
    assert str(tmp_path) not in str(linked.value)


def test_bad_videos_are_named_as_the_input_not_as_a_scratch_path(video_nodes, tmp_path):
    api = core_api()
    playlist = api.InputImpl.VideoFromFile(io.BytesIO(b"#EXTM3U\n#EXTINF:1.0,\nhttp://127.0.0.1:9/seg0.ts\n"))
    with pytest.raises(ValueError, match=r"^RewindLoadVideo: core_video is an HLS playlist, not a video file"):
        video_nodes.RewindLoadVideo.execute(video="", core_video=playlist, **LOAD_DEFAULTS)
    empty = api.InputImpl.VideoFromComponents(api.Types.VideoComponents(images=torch.zeros(0, 3, 0, 0), frame_rate=Fraction(8)))
    with pytest.raises(ValueError, match=r"^RewindLoadVideo: core_video: the connected VIDEO has no frames\.$"):
        video_nodes.RewindLoadVideo.execute(video="", core_video=empty, **LOAD_DEFAULTS)
    with pytest.raises(ValueError, match=r"^RewindLoadVideo: core_video takes a VIDEO output .*, not 'clip\.mp4'\.$"):
        video_nodes.RewindLoadVideo.execute(video="", core_video="clip.mp4", **LOAD_DEFAULTS)


def test_with_a_video_connected_the_file_input_is_not_checked(video_nodes):
    """ComfyUI passes a linked input to validate_inputs as None and leaves an unconnected one out."""
    for node in (video_nodes.RewindLoadVideo, video_nodes.RewindLoadVideoPath):
        assert node.validate_inputs(video="", core_video=None) is True
        assert node.validate_inputs(video="") is not True


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "video/ProRes", "image/gif"])
def test_combine_returns_its_file_as_a_core_video(video_nodes, fmt):
    out = video_nodes.RewindVideoCombine.execute(images=torch.from_numpy(np.stack(grey_clip(5))).float() / 255,
                                                 **{**COMBINE_DEFAULTS, "format": fmt, "frame_rate": 10.0})  # exact in gif
    path, video = out.args
    assert isinstance(video, core_api().InputImpl.VideoFromFile) and video.get_stream_source() == path
    components = video.get_components()
    assert numbered_levels(components.images) == [0, 1, 2, 3, 4] and float(components.frame_rate) == 10.0


@pytest.mark.parametrize("fmt", ["image/png-sequence", "image/webp"])
def test_combine_blocks_its_video_output_for_formats_core_cannot_read(video_nodes, fmt):
    from comfy_execution.graph_utils import ExecutionBlocker

    out = video_nodes.RewindVideoCombine.execute(images=torch.rand(2, 16, 16, 3), **{**COMBINE_DEFAULTS, "format": fmt})
    assert isinstance(out.args[1], ExecutionBlocker) and out.args[1].message.startswith(f"the video output of Video Combine is empty: {fmt}")
