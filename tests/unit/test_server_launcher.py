"""The server launcher's base directory: the pack is linked, a user's ComfyUI is only linked
to (models, other custom nodes), never written into."""
from __future__ import annotations

from pathlib import Path

from rewind.rewind_queue.server import PACK_ROOT, free_port, install_model_files, prepare_base_directory, server_command


def fake_comfyui(root: Path) -> Path:
    (root / "models" / "checkpoints").mkdir(parents=True)
    (root / "models" / "checkpoints" / "real.safetensors").write_bytes(b"weights")
    (root / "custom_nodes" / "ComfyUI-VideoHelperSuite").mkdir(parents=True)
    (root / "custom_nodes" / "rewind-dev").symlink_to(PACK_ROOT)  # the pack already installed
    (root / "main.py").write_text("")
    return root


def snapshot(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_base_directory_links_the_pack_only(tmp_path):
    base = prepare_base_directory(tmp_path / "base")
    assert (base / "custom_nodes" / "rewind").resolve() == PACK_ROOT
    assert sorted(path.name for path in (base / "custom_nodes").iterdir()) == ["rewind"]
    assert all((base / name).is_dir() for name in ("input", "output", "temp", "user", "models"))


def test_user_comfyui_models_and_custom_nodes_are_linked_not_copied_or_modified(tmp_path):
    user = fake_comfyui(tmp_path / "ComfyUI")
    before = snapshot(user)
    base = prepare_base_directory(tmp_path / "base", user_comfyui=user)
    assert (base / "models" / "checkpoints" / "real.safetensors").read_bytes() == b"weights"
    linked = sorted(path.name for path in (base / "custom_nodes").iterdir())
    assert linked == ["ComfyUI-VideoHelperSuite", "rewind"]  # the user's copy of the pack is not loaded twice
    prepare_base_directory(tmp_path / "base", user_comfyui=user)  # idempotent
    assert snapshot(user) == before


def test_model_files_are_copied_into_the_base_models_folder(tmp_path):
    source = tmp_path / "tiny.safetensors"
    source.write_bytes(b"tiny")
    base = prepare_base_directory(tmp_path / "base")
    [copied] = install_model_files(base, "diffusion_models", [source])
    assert copied == base / "models" / "diffusion_models" / "tiny.safetensors" and copied.read_bytes() == b"tiny"


def test_server_command_keeps_everything_in_the_base_directory(tmp_path):
    command = server_command(Path("/opt/ComfyUI"), tmp_path, free_port())
    assert command[command.index("--base-directory") + 1] == str(tmp_path)
    assert f"sqlite:///{tmp_path / 'user' / 'comfyui.db'}" in command
    assert "--cpu" in command and "127.0.0.1" in command


def test_gpu_runs_drop_the_cpu_flag(tmp_path):
    assert "--cpu" not in server_command(Path("/opt/ComfyUI"), tmp_path, 8188, cpu=False)
