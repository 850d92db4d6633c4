"""Starts and stops a headless ComfyUI server with the Rewind pack installed.

One module serves the test fixture and the main job, so both exercise the same start-up path.
The server runs from a throw-away *base directory* (``--base-directory``): the pack is linked
into ``<base>/custom_nodes/rewind`` and nothing is ever written into the ComfyUI tree itself.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[1]
PACK_LINK_NAME = "rewind"
BASE_SUBDIRS = ("custom_nodes", "input", "output", "temp", "user")


class ServerStartError(RuntimeError):
    """The server exited or never answered; the message carries the tail of its log."""


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log_path: Path, lines: int = 60) -> str:
    if not log_path.is_file():
        return "(no server log)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def _is_pack(path: Path) -> bool:
    return path.resolve() == PACK_ROOT


def prepare_base_directory(base: Path, user_comfyui: Path | None = None) -> Path:
    """Lays out ``base`` for ``--base-directory``: the pack linked into custom_nodes.

    With ``user_comfyui`` (a real installation), its models folder and its other custom nodes
    are linked in too, so user workflows find their checkpoints, AnimateDiff and VHS nodes.
    """
    for name in BASE_SUBDIRS:
        (base / name).mkdir(parents=True, exist_ok=True)
    custom_nodes = base / "custom_nodes"
    if user_comfyui is not None:
        models = base / "models"
        if not models.exists():
            models.symlink_to((user_comfyui / "models").resolve(), target_is_directory=True)
        user_nodes = user_comfyui / "custom_nodes"
        for entry in sorted(user_nodes.iterdir()) if user_nodes.is_dir() else []:
            link = custom_nodes / entry.name
            if entry.name != PACK_LINK_NAME and not _is_pack(entry) and not link.exists():
                link.symlink_to(entry.resolve())
    else:
        (base / "models").mkdir(exist_ok=True)
    pack_link = custom_nodes / PACK_LINK_NAME
    if not pack_link.exists():
        pack_link.symlink_to(PACK_ROOT, target_is_directory=True)
    return base


def install_model_files(base: Path, folder: str, files: list[Path]) -> list[Path]:
    """Copies model files into ``<base>/models/<folder>``; a running server sees them too,
    since ComfyUI re-lists a folder whose mtime changed."""
    target = base / "models" / folder
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in files:
        destination = target / Path(source).name
        destination.write_bytes(Path(source).read_bytes())
        copied.append(destination)
    return copied


def python_sees_a_gpu(python: str = sys.executable) -> bool:
    """Whether torch in ``python`` has CUDA (or Apple MPS): without one ComfyUI needs ``--cpu``,
    with one the main job should use it. Probed in a child so this process never imports torch."""
    probe = "import torch; print(torch.cuda.is_available() or torch.backends.mps.is_available())"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    return result.stdout.strip() == "True"


def server_command(comfyui: Path, base: Path, port: int, python: str = sys.executable, extra_args=(),
                   cpu: bool = True) -> list[str]:
    return [
        python, str(comfyui / "main.py"),
        *(["--cpu"] if cpu else []), "--listen", "127.0.0.1", "--port", str(port),
        "--base-directory", str(base), "--disable-auto-launch",
        # ComfyUI's default database lives inside its own tree; keep it in the base instead.
        "--database-url", f"sqlite:///{base / 'user' / 'comfyui.db'}", *extra_args,
    ]


class ComfyServer:
    """A running headless ComfyUI: ``url``, ``base``, ``log_path``; ``stop()`` kills it by PID."""

    def __init__(self, comfyui: Path, base: Path, *, port: int | None = None, python: str = sys.executable,
                 extra_args=(), log_path: Path | None = None, cpu: bool = True):
        self.comfyui = Path(comfyui).resolve()
        self.base = Path(base).resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path or self.base / "server.log")
        self.command = server_command(self.comfyui, self.base, self.port, python, extra_args, cpu)
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 240.0) -> "ComfyServer":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.comfyui, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._wait_ready(ready_timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Polls ``/object_info``: it answers only after every custom node has been loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"ComfyUI exited with code {self.process.returncode} while starting "
                    f"({' '.join(self.command)}). Log tail:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/object_info", timeout=10) as response:
                    json.load(response)
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                time.sleep(0.5)
        self.stop()
        raise ServerStartError(f"ComfyUI did not answer {self.url}/object_info within {timeout:.0f}s. Log tail:\n{self.tail()}")

    def install_models(self, folder: str, files: list[Path]) -> list[Path]:
        return install_model_files(self.base, folder, files)

    def tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "ComfyServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
