"""A scripted ComfyUI on 127.0.0.1 for the queue client's hostile tests (stdlib http.server in a
thread, optionally behind TLS).

Out of the box it answers as a ComfyUI that has run the prompt: ``/prompt`` queues PROMPT_ID,
``/history/PROMPT_ID`` holds its finished entry with one output file, ``/view`` serves that file,
and ``/ws`` is refused (the client then polls). A test replaces the routes it needs with answers
built here (a drip, a lie about a length, a redirect, a flood of ``/ws`` messages); a route is a
function of the request handler that writes raw bytes to ``handler.wfile``.
"""
from __future__ import annotations

import http
import http.server
import json
import ssl
import struct
import threading
import urllib.parse
from typing import Callable

PROMPT_ID = "fake-prompt"
OUTPUT_NAME = "out.png"
OUTPUT_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
HISTORY_PATH = f"/history/{PROMPT_ID}"

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


def output_entry(filename: str = OUTPUT_NAME, subfolder: str = "", folder_type: str = "output") -> dict:
    return {"filename": filename, "subfolder": subfolder, "type": folder_type}


def finished_history(outputs: dict | None = None, status_str: str = "success", messages: list | None = None) -> dict:
    """The answer to /history/PROMPT_ID once the prompt has ended."""
    outputs = {"9": {"images": [output_entry()]}} if outputs is None else outputs
    status = {"status_str": status_str, "completed": status_str == "success", "messages": messages or []}
    return {PROMPT_ID: {"outputs": outputs, "status": status}}


def http_head(status: int = 200, headers: dict | None = None) -> bytes:
    """Status line and headers; a header given as None is left out."""
    fields = {"Content-Type": "application/octet-stream", "Connection": "close", **(headers or {})}
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"] + [f"{k}: {v}" for k, v in fields.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_answer(body: bytes, status: int = 200, headers: dict | None = None) -> bytes:
    return http_head(status, {"Content-Length": len(body), **(headers or {})}) + body


def answer(body: bytes, status: int = 200, headers: dict | None = None) -> Route:
    return lambda handler: handler.wfile.write(http_answer(body, status, headers))


def json_answer(value, status: int = 200) -> Route:
    return answer(json.dumps(value).encode(), status, {"Content-Type": "application/json"})


def dripping(raw: bytes, every: float) -> Route:
    """Sends ``raw`` (status line and headers included) one byte every ``every`` seconds."""
    def respond(handler):
        for index in range(len(raw)):
            handler.wfile.write(raw[index:index + 1])
            if handler.server.fake.stopping.wait(every):
                return
    return respond


def ws_frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    """An unmasked server frame."""
    head = bytes([(0x80 if final else 0) | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


def websocket(script: Callable[[Callable[[bytes], None], threading.Event], None]) -> Route:
    """Accepts the upgrade, then runs ``script(send, stopping)`` on the connection."""
    def respond(handler):
        handler.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        script(handler.wfile.write, handler.server.fake.stopping)
    return respond


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        fake = self.server.fake
        path = urllib.parse.urlsplit(self.path).path
        fake.requests.append((self.command, path))
        try:
            fake.routes.get(path, answer(b"not found", 404))(self)
        except OSError:
            pass  # the client hung up, as it should once it has seen enough

    do_POST = do_GET

    def log_message(self, *args):
        pass


class FakeComfy:
    def __init__(self, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {
            "/prompt": json_answer({"prompt_id": PROMPT_ID, "number": 1, "node_errors": {}}),
            HISTORY_PATH: json_answer(finished_history()),
            "/view": answer(OUTPUT_BYTES),
            "/ws": answer(b"no websocket here", 404),
        }
        self.requests: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.fake = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
