"""``python -m rewind_queue WORKFLOW.json``: queue a workflow on a ComfyUI server, show its
progress, download its outputs, and explain failures node by node."""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import workflow as wf
from .api import ComfyAPI, Limits, PromptRejected
from .downloads import download_outputs
from .errors import format_execution_error, format_prompt_rejection
from .failures import ClientFailure, TimedOut
from .transport import ANSWER_LIMIT, FILE_LIMIT, Deadline, Origin, format_size
from .untrusted import printable
from .ws import WebSocket, WebSocketClosed

DONE_MESSAGES = {"execution_success"}
FAILED_MESSAGES = {"execution_error", "execution_interrupted"}
POLL_SECONDS = 1.0  # /history is asked this often whatever /ws says
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_PROGRESS_COUNT = 10**12


class RunFailed(ClientFailure):
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

    def _label(self, node_id) -> str:
        node = self.prompt.get(str(node_id), {})
        return printable(f"node {node_id} ({node.get('_meta', {}).get('title') or node.get('class_type', '?')})")

    def node_started(self, node_id) -> None:
        self.node_label = self._label(node_id)
        self._show(self.node_label, newline=not self.interactive)

    def step(self, value: int, total: int) -> None:
        filled = self.width * min(value, total) // max(total, 1)
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


def say(text, stream=None) -> None:
    """Prints text that may carry a server's words, without its terminal control sequences."""
    print(printable(text), file=stream or sys.stdout)


def progress_count(value) -> int:
    """A step count from a /ws message, or 0 when it is no finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return max(0, min(int(value), MAX_PROGRESS_COUNT))


def _message_for(message, prompt_id: str) -> dict | None:
    """The message when it is about our prompt (ComfyUI broadcasts some to every client)."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        return None
    return message if message["data"].get("prompt_id") == prompt_id else None


def _show(message: dict, progress: ProgressBar) -> bool:
    """Shows a message about our prompt on the progress bar; True when it is the last one."""
    kind, data = message.get("type"), message["data"]
    if kind == "executing" and data.get("node") is not None:
        progress.node_started(data["node"])
    elif kind == "progress":
        progress.step(progress_count(data.get("value")), progress_count(data.get("max")))
    return kind in FAILED_MESSAGES or kind in DONE_MESSAGES or (kind == "executing" and data.get("node") is None)


def _history_failure(entry: dict) -> str | None:
    status = entry.get("status") or {}
    for kind, data in status.get("messages") or []:
        if kind == "execution_error":
            return format_execution_error(data)
        if kind == "execution_interrupted":
            return f"the prompt was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return "ComfyUI reported an error without details" if status.get("status_str") == "error" else None


def wait_for_history(api: ComfyAPI, socket_: WebSocket | None, prompt_id: str, progress: ProgressBar) -> dict:
    """Shows ``/ws`` progress and asks ``/history`` every POLL_SECONDS, however busy the socket
    is, until the prompt's history entry is there; the API's deadline ends the wait."""
    next_poll = time.monotonic() + POLL_SECONDS
    try:
        while True:
            wait = next_poll - time.monotonic()
            if wait > 0 and socket_ is None:
                api.deadline.sleep(wait)
            elif wait > 0:
                try:
                    message = _message_for(socket_.receive_json(wait), prompt_id)
                except TimeoutError:
                    continue
                except (WebSocketClosed, OSError):
                    socket_ = None  # progress falls back to polling /history
                    continue
                if message is not None and _show(message, progress):
                    return _final_history(api, prompt_id, message)
            else:
                entry = api.history(prompt_id)  # ComfyUI writes history only once a prompt has ended
                if entry is not None:
                    return entry
                next_poll = time.monotonic() + POLL_SECONDS
    except TimedOut:
        raise RunFailed(f"prompt {prompt_id} did not finish within {api.deadline.seconds:g} s "
                        "(it may still be running on the server); raise --timeout") from None


def _final_history(api: ComfyAPI, prompt_id: str, message: dict) -> dict:
    """History is written just after the final message; wait for it."""
    try:
        while (entry := api.history(prompt_id)) is None:
            api.deadline.sleep(0.2)
        return entry
    except TimedOut:
        if message["type"] == "execution_error":
            raise RunFailed(format_execution_error(message["data"])) from None
        raise RunFailed(f"prompt {prompt_id} finished but has no history entry") from None


def output_texts(outputs: dict) -> list[str]:
    texts = [node_output.get("text") for node_output in outputs.values()]
    return [text for values in texts if isinstance(values, list) for text in values if isinstance(text, str)]


def open_progress_socket(api: ComfyAPI, client_id: str) -> WebSocket | None:
    try:
        return WebSocket(f"{api.websocket_url}?clientId={client_id}", api.timeout, api.deadline, api.limits.answers)
    except OSError:
        return None  # progress falls back to polling /history


def run_prompt(api: ComfyAPI, prompt: dict, out_dir: Path, timeout: float = 3600.0, progress_stream=None,
               known_urls: dict[str, str] | None = None, models_dir: Path | None = None) -> RunResult:
    """Queues an API-format prompt, waits for it, downloads its outputs into ``out_dir``, all
    within ``timeout`` seconds (and the API's own deadline). ``known_urls`` and ``models_dir``
    make missing-model errors say where to get and put files."""
    api = api.within(timeout)
    client_id = uuid.uuid4().hex
    socket_ = open_progress_socket(api, client_id)
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
            say(f"warning: {dropped}", progress.stream)
        entry = wait_for_history(api, socket_, prompt_id, progress)
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


def positive_seconds(text: str) -> float:
    """--timeout: a finite number of seconds above 0 (nan, inf and negatives make no deadline)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0, e.g. 600")
    return seconds


def byte_size(text: str) -> int:
    """--max-download, --max-answer: bytes, or a number with K, M, G or T (binary: 1M is 1 MiB)."""
    match = SIZE.fullmatch(text.strip())
    size = int(float(match[1]) * SIZE_FACTORS[match[2].lower()]) if match else 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500M or 4GiB")
    return size


def server_url(text: str) -> str:
    """--server: an http:// or https:// address."""
    try:
        scheme = Origin.parse(text).scheme
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// address")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rewind_queue",
        description="Queue a ComfyUI workflow (API or UI format), show progress, download its outputs.",
    )
    parser.add_argument("workflow", type=Path, help="workflow JSON: API format, or UI format as saved by ComfyUI")
    parser.add_argument("--server", type=server_url, default="http://127.0.0.1:8188",
                        help="ComfyUI URL, http:// or https:// (default %(default)s)")
    parser.add_argument("--video", type=Path, help="upload this file and set it on the workflow's video loader")
    parser.add_argument("--prompt", help="positive prompt text (the encoder feeding the resampler's `positive`)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="set an input; NODE is an id or title, VALUE is JSON or text, @FILE uploads FILE")
    parser.add_argument("--out", type=Path, default=Path("output"), help="folder for downloaded outputs (default %(default)s)")
    parser.add_argument("--timeout", type=positive_seconds, default=3600.0,
                        help="seconds the whole run may take: uploads, waiting and downloads (default %(default)s)")
    parser.add_argument("--max-download", type=byte_size, default=FILE_LIMIT.bytes, metavar="SIZE",
                        help=f"largest output file to download, e.g. 500M (default {format_size(FILE_LIMIT.bytes)})")
    parser.add_argument("--max-answer", type=byte_size, default=ANSWER_LIMIT.bytes, metavar="SIZE",
                        help=f"largest JSON answer or /ws message to read (default {format_size(ANSWER_LIMIT.bytes)})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limits = Limits(ANSWER_LIMIT._replace(bytes=args.max_answer), FILE_LIMIT._replace(bytes=args.max_download))
    api = ComfyAPI(args.server, deadline=Deadline(args.timeout), limits=limits)
    try:
        workflow = wf.load_workflow(args.workflow)
        known_urls = model_urls(workflow) if wf.is_ui_format(workflow) else {}
        prompt = prepare_prompt(api, workflow, args.video, args.prompt, args.assignments)
        result = run_prompt(api, prompt, args.out, args.timeout, known_urls=known_urls)
    except wf.WorkflowError as error:
        say(f"error: {error}", sys.stderr)
        return 2
    except ClientFailure as error:
        say(f"error: {error}", sys.stderr)
        return 1
    for text in result.texts:
        say(text)
    for path in result.files:
        say(path)
    return 0
