"""Driving a real ComfyUI server the way a hostile or unlucky user would: queue a prompt over HTTP,
press Cancel (/interrupt) at a chosen moment, and read how the prompt ended, with hang detection.

Shared by the hostile and server tiers (testbed: no tier imports another's modules); prompts are API-format dicts ({node id: {class_type, inputs}}).
"""
from __future__ import annotations

import itertools
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rewind.rewind_queue.api import ComfyAPI, PromptRejected
from rewind.rewind_queue.ws import WebSocket

LOAD_DEFAULTS = dict(force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0, skip_first_frames=0,
                     select_every_nth=1, model_preset="none", resize_mode="crop")
COMBINE_DEFAULTS = dict(frame_rate=8.0, loop_count=0, filename_prefix="hostile/out", format="image/gif",
                        pingpong=False, save_output=True, crf=19, pix_fmt="auto")
PARTIAL_SUFFIX = ".partial"  # video_io writes `.<name>.<random>.partial` until a file is complete


def load_node(video: str, node: str = "RewindLoadVideo", **inputs) -> dict:
    return {"class_type": node, "inputs": {"video": video, **LOAD_DEFAULTS, **inputs}}


def combine_node(images_from: str, **inputs) -> dict:
    return {"class_type": "RewindVideoCombine", "inputs": {"images": [images_from, 0], **COMBINE_DEFAULTS, **inputs}}


def load_and_combine(video: str, node: str = "RewindLoadVideo", load: dict | None = None, combine: dict | None = None) -> dict:
    """Loader "1" feeding Video Combine "2": the smallest prompt with an output."""
    return {"1": load_node(video, node, **(load or {})), "2": combine_node("1", **(combine or {}))}


@dataclass
class Outcome:
    status: str  # "success", "error" or "interrupted"
    messages: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    ended_at: float = 0.0  # time.time() of the server's final message (success, error or interrupted)

    @property
    def error(self) -> str:
        """The execution error's message ("" when there was none)."""
        return next((data.get("exception_message", "") for kind, data in self.messages if kind == "execution_error"), "")


class HostileClient:
    def __init__(self, url: str, base: Path):
        self.api = ComfyAPI(url, timeout=30)
        self.base = Path(base)
        self.client_id = uuid.uuid4().hex
        self._fresh = itertools.count(1)

    def upload(self, path: Path) -> str:
        return self.api.upload(path)

    def rejection(self, prompt: dict) -> dict:
        """ComfyUI's 400 body for a prompt it must refuse outright; fails if it queued it instead."""
        try:
            prompt_id, _ = self.api.queue_prompt(prompt, self.client_id)
        except PromptRejected as rejected:
            return rejected.body
        outcome = self.outcome(prompt_id)
        raise AssertionError(f"the prompt was queued instead of refused and ended as {outcome.status}: {outcome.error}")

    def queue(self, prompt: dict) -> str:
        prompt_id, node_errors = self.api.queue_prompt(prompt, self.client_id)
        assert not node_errors, node_errors
        return prompt_id

    def outcome(self, prompt_id: str, within: float = 120.0) -> Outcome:
        """How the prompt ended; `within` is a hang detector, not a speed requirement."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            entry = self.api.history(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                return self._outcome(entry)
            time.sleep(0.05)
        raise AssertionError(f"prompt {prompt_id} did not end within {within:g} s: the server hangs")

    @staticmethod
    def _outcome(entry: dict) -> Outcome:
        status = entry["status"]
        messages = [tuple(message) for message in status.get("messages", [])]
        kinds = {kind for kind, _ in messages}
        state = "interrupted" if "execution_interrupted" in kinds else status.get("status_str", "error")
        ended_at = max((data.get("timestamp", 0) / 1000 for _, data in messages), default=0.0)
        return Outcome(state, messages, entry.get("outputs", {}), ended_at)

    def run(self, prompt: dict, within: float = 120.0) -> Outcome:
        return self.outcome(self.queue(prompt), within)

    def queue_and_wait_until_running(self, prompt: dict, node_id: str, within: float = 60.0) -> str:
        """Queues `prompt` and returns once ComfyUI reports node `node_id` executing."""
        socket = WebSocket(f"{self.api.websocket_url}?clientId={self.client_id}", timeout=within)
        try:
            prompt_id = self.queue(prompt)
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                message = socket.receive_json() or {}
                data = message.get("data") or {}
                if message.get("type") == "executing" and data.get("prompt_id") == prompt_id:
                    if data.get("node") == node_id:
                        return prompt_id
                    if data.get("node") is None:
                        raise AssertionError(f"prompt {prompt_id} finished before node {node_id} ran")
            raise AssertionError(f"node {node_id} did not start within {within:g} s")
        finally:
            socket.close()

    def interrupt(self) -> float:
        """Presses Cancel; returns when (time.time(), the clock of the server's message timestamps)."""
        pressed = time.time()
        request = urllib.request.Request(self.api.url + "/interrupt", data=b"{}", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # answers with an empty body
            assert response.status == 200
        return pressed

    def cancel_while_running(self, prompt: dict, node_id: str, after: float = 0.5, within: float = 30.0) -> tuple[Outcome, float]:
        """Cancels `prompt` `after` seconds into node `node_id`; returns the outcome and the seconds
        from Cancel to the prompt's end (0 when it ended before the Cancel landed)."""
        prompt_id = self.queue_and_wait_until_running(prompt, node_id)
        time.sleep(after)
        pressed = self.interrupt()
        outcome = self.outcome(prompt_id, within)
        return outcome, max(0.0, outcome.ended_at - pressed)

    def assert_serves_next_prompt(self, video: str) -> None:
        """A small good prompt still runs (each call loads a different span, so nothing is cached)."""
        skip = next(self._fresh) % 8
        outcome = self.run(load_and_combine(video, load={"frame_load_cap": 2, "skip_first_frames": skip},
                                            combine={"filename_prefix": "hostile/health", "save_output": False}), within=120)
        assert outcome.status == "success", outcome.error

    def partial_files(self) -> list[Path]:
        """Half-written outputs left anywhere in ComfyUI's folders."""
        return [path for folder in ("output", "temp", "input") for path in (self.base / folder).rglob(f"*{PARTIAL_SUFFIX}")]

    def files_under(self, folder: str, pattern: str = "*") -> list[Path]:
        return sorted(path for path in (self.base / folder).rglob(pattern) if path.is_file())
