"""``python -m rewind_queue WORKFLOW.json``: queue a workflow on a ComfyUI server, show its
progress, download its outputs, and explain failures node by node."""
from __future__ import annotations

import argparse
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import workflow as wf
from .api import ComfyAPI, PromptRejected, ServerUnreachable
from .errors import format_execution_error, format_prompt_rejection
from .ws import WebSocket, WebSocketClosed

DONE_MESSAGES = {"execution_success"}
FAILED_MESSAGES = {"execution_error", "execution_interrupted"}


class RunFailed(RuntimeError):
    """The prompt was rejected, failed while running, or timed out; the message is for users."""


@dataclass
class RunResult:
    prompt_id: str
    files: list[Path] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)


class ProgressBar:
    """One status line on stderr: the running node and its step/total."""

    def __init__(self, prompt: dict, stream=None, width: int = 30):
        self.prompt, self.stream, self.width = prompt, stream or sys.stderr, width
        self.interactive = self.stream.isatty()
        self.node_label = ""

    def _label(self, node_id: str) -> str:
        node = self.prompt.get(str(node_id), {})
        return f"node {node_id} ({node.get('_meta', {}).get('title') or node.get('class_type', '?')})"

    def node_started(self, node_id: str) -> None:
        self.node_label = self._label(node_id)
        self._show(self.node_label, newline=not self.interactive)

    def step(self, value: int, total: int) -> None:
        filled = int(self.width * value / max(total, 1))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.node_label} {value}/{total}"
        if self.interactive or value == total:
            self._show(line, newline=not self.interactive)

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, line: str, newline: bool) -> None:
        self.stream.write(("\r\x1b[2K" if self.interactive else "") + line + ("\n" if newline else ""))
        self.stream.flush()


def _message_for(message: dict | None, prompt_id: str) -> dict | None:
    """The message when it is about our prompt (ComfyUI broadcasts some to every client)."""
    if not message or not isinstance(message.get("data"), dict):
        return None
    return message if message["data"].get("prompt_id") == prompt_id else None


def _history_failure(entry: dict) -> str | None:
    status = entry.get("status") or {}
    for kind, data in status.get("messages") or []:
        if kind == "execution_error":
            return format_execution_error(data)
        if kind == "execution_interrupted":
            return f"the prompt was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return "ComfyUI reported an error without details" if status.get("status_str") == "error" else None


def wait_for_history(api: ComfyAPI, socket_: WebSocket | None, prompt_id: str, timeout: float, progress: ProgressBar) -> dict:
    """Follows ``/ws`` until the prompt ends (polling ``/history`` when the socket is quiet or
    gone) and returns its history entry."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RunFailed(f"prompt {prompt_id} did not finish within {timeout:.0f}s (it may still be running on the server); raise --timeout")
        quiet, message = True, None
        if socket_ is not None:
            socket_.settimeout(min(remaining, 2.0))
            try:
                quiet, message = False, _message_for(socket_.receive_json(), prompt_id)
            except (socket.timeout, TimeoutError):
                pass
            except (WebSocketClosed, OSError):
                socket_ = None
        else:
            time.sleep(min(remaining, 1.0))
        if quiet:
            entry = api.history(prompt_id)  # ComfyUI writes history only once a prompt has ended
            if entry is not None:
                return entry
        if message is None:
            continue
        kind, data = message["type"], message["data"]
        if kind == "executing" and data.get("node") is not None:
            progress.node_started(data["node"])
        elif kind == "progress":
            progress.step(data.get("value", 0), data.get("max", 0))
        elif kind in FAILED_MESSAGES or kind in DONE_MESSAGES or (kind == "executing" and data.get("node") is None):
            return _final_history(api, prompt_id, deadline, message)


def _final_history(api: ComfyAPI, prompt_id: str, deadline: float, message: dict) -> dict:
    """History is written just after the final message; wait for it briefly."""
    while time.monotonic() < deadline:
        entry = api.history(prompt_id)
        if entry is not None:
            return entry
        time.sleep(0.2)
    if message["type"] == "execution_error":
        raise RunFailed(format_execution_error(message["data"]))
    raise RunFailed(f"prompt {prompt_id} finished but has no history entry")


def output_files(outputs: dict) -> list[dict]:
    """Every ``{filename, subfolder, type}`` entry in every node's ui output."""
    return [
        item
        for node_output in outputs.values()
        for value in node_output.values() if isinstance(value, list)
        for item in value if isinstance(item, dict) and "filename" in item
    ]


def output_texts(outputs: dict) -> list[str]:
    return [
        text
        for node_output in outputs.values()
        for text in node_output.get("text") or []
        if isinstance(text, str)
    ]


def unused_path(path: Path) -> Path:
    """``path``, or ``name (2).ext`` and so on: a later run never overwrites an earlier result."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
    return candidate


def download_outputs(api: ComfyAPI, outputs: dict, out_dir: Path) -> list[Path]:
    paths = []
    for item in output_files(outputs):
        subfolder = item.get("subfolder") or ""
        target = (out_dir / subfolder / item["filename"]).resolve()
        if out_dir.resolve() not in target.parents:
            raise RunFailed(f"refusing to write output {item} outside {out_dir}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target = unused_path(target)
        target.write_bytes(api.view(item["filename"], subfolder, item.get("type", "output")))
        paths.append(target)
    return paths


def run_prompt(api: ComfyAPI, prompt: dict, out_dir: Path, timeout: float = 3600.0, progress_stream=None,
               known_urls: dict[str, str] | None = None, models_dir: Path | None = None) -> RunResult:
    """Queues an API-format prompt, waits for it, downloads its outputs into ``out_dir``.
    ``known_urls`` and ``models_dir`` make missing-model errors say where to get and put files."""
    client_id = uuid.uuid4().hex
    try:
        socket_ = WebSocket(f"{api.websocket_url}?clientId={client_id}")
    except OSError:
        socket_ = None  # progress falls back to polling /history
    progress = ProgressBar(prompt, progress_stream)
    try:
        try:
            prompt_id, node_errors = api.queue_prompt(prompt, client_id)
        except PromptRejected as rejection:
            raise RunFailed(format_prompt_rejection(rejection.body, known_urls, models_dir)) from None
        dropped = format_prompt_rejection(
            {"error": {"message": "some outputs will not run"}, "node_errors": node_errors}, known_urls, models_dir
        )
        if node_errors:
            print(f"warning: {dropped}", file=progress.stream)
        entry = wait_for_history(api, socket_, prompt_id, timeout, progress)
    finally:
        progress.finish()
        if socket_ is not None:
            socket_.close()
    failure = _history_failure(entry)
    if failure:
        raise RunFailed(failure)
    outputs = entry.get("outputs") or {}
    result = RunResult(prompt_id, download_outputs(api, outputs, Path(out_dir)), output_texts(outputs), outputs)
    if node_errors:
        saved = "".join(f"\n  saved anyway: {path}" for path in result.files)
        raise RunFailed(dropped + saved)
    return result


def model_urls(ui: dict) -> dict[str, str]:
    """``properties.models`` entries that ComfyUI's templates attach to loader nodes."""
    return {
        model["name"]: model["url"]
        for node in ui.get("nodes", [])
        for model in (node.get("properties") or {}).get("models") or []
        if isinstance(model, dict) and model.get("name") and model.get("url")
    }


def prepare_prompt(api: ComfyAPI, workflow: dict, video: Path | None = None, positive: str | None = None,
                   assignments: list[str] = (), log=None) -> dict:
    """API-format prompt from an API or UI workflow, with the command line's edits applied."""
    prompt = wf.ui_to_api(workflow, api.object_info()) if wf.is_ui_format(workflow) else wf.checked_api_prompt(workflow)
    if video is not None:
        node_id = wf.set_video(prompt, upload_file(api, video))
        print(f"video {video} → node {node_id}", file=log or sys.stderr)
    if positive is not None:
        node_ids = wf.set_positive_prompt(prompt, positive)
        print(f"prompt text → node(s) {', '.join(node_ids)}", file=log or sys.stderr)
    for assignment in assignments:
        node, input_name, raw = wf.parse_assignment(assignment)
        value = upload_file(api, Path(raw[1:])) if raw.startswith("@") else wf.parse_value(raw)
        wf.set_input(prompt, node, input_name, value)
    return prompt


def upload_file(api: ComfyAPI, path: Path) -> str:
    if not Path(path).is_file():
        raise wf.WorkflowError(f"input file {path} does not exist")
    return api.upload(Path(path))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rewind_queue",
        description="Queue a ComfyUI workflow (API or UI format), show progress, download its outputs.",
    )
    parser.add_argument("workflow", type=Path, help="workflow JSON: API format, or UI format as saved by ComfyUI")
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI URL (default %(default)s)")
    parser.add_argument("--video", type=Path, help="upload this file and set it on the workflow's video loader")
    parser.add_argument("--prompt", help="positive prompt text (the encoder feeding the resampler's `positive`)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="set an input; NODE is an id or title, VALUE is JSON or text, @FILE uploads FILE")
    parser.add_argument("--out", type=Path, default=Path("output"), help="folder for downloaded outputs (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the prompt (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = ComfyAPI(args.server)
    try:
        workflow = wf.load_workflow(args.workflow)
        known_urls = model_urls(workflow) if wf.is_ui_format(workflow) else {}
        prompt = prepare_prompt(api, workflow, args.video, args.prompt, args.assignments)
        result = run_prompt(api, prompt, args.out, args.timeout, known_urls=known_urls)
    except wf.WorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RunFailed, ServerUnreachable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for text in result.texts:
        print(text)
    for path in result.files:
        print(path)
    return 0
