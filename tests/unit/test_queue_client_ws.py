"""The stdlib WebSocket reader against a scripted server on a socket pair: framing, pings,
fragments, long payloads, binary previews, close."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from rewind.rewind_queue.downloads import unused_path
from rewind.rewind_queue.ws import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, WebSocket, WebSocketClosed
from rewind.testbed.fake_comfy import ws_frame


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    first, second = conn.recv(2)
    length = second & 0x7F
    mask = conn.recv(4)
    payload = b""
    while len(payload) < length:
        payload += conn.recv(length - len(payload))
    return first & 0x0F, bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


@pytest.fixture
def scripted_server():
    """A listening socket; the test hands it the frames to send after the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = {}

    def serve(frames: list[bytes]):
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        received["request"] = request.decode()
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + b"".join(frames))
        received["pong"] = read_client_frame(conn)
        conn.close()

    def start(frames: list[bytes]) -> str:
        received["thread"] = threading.Thread(target=serve, args=(frames,), daemon=True)
        received["thread"].start()
        return f"ws://127.0.0.1:{listener.getsockname()[1]}/ws?clientId=abc"

    yield start, received
    listener.close()


def test_reader_handles_pings_fragments_long_and_binary_messages(scripted_server):
    start, received = scripted_server
    long_text = json.dumps({"type": "progress", "data": {"pad": "x" * 70000}})
    url = start([
        ws_frame(OP_PING, b"hi"),
        ws_frame(OP_TEXT, b'{"type": "status",', final=False), ws_frame(OP_CONTINUATION, b' "data": {}}'),
        ws_frame(OP_BINARY, b"\x00\x00\x00\x01preview"),
        ws_frame(OP_TEXT, long_text.encode()),
        ws_frame(OP_TEXT, b"x" * 300),
        ws_frame(OP_CLOSE, b""),
    ])
    ws = WebSocket(url, timeout=10)
    assert ws.receive_json() == {"type": "status", "data": {}}
    assert ws.receive_json() is None  # binary preview frames are skipped by the JSON reader
    assert ws.receive_json()["data"]["pad"] == "x" * 70000
    assert ws.receive() == "x" * 300
    with pytest.raises(WebSocketClosed):
        ws.receive()
    received["thread"].join(10)
    assert received["pong"] == (OP_PONG, b"hi")
    assert "GET /ws?clientId=abc HTTP/1.1" in received["request"] and "Sec-WebSocket-Key:" in received["request"]


def test_refused_upgrade_is_an_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def refuse():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\n\r\n")
        conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    with pytest.raises(ConnectionError, match="404"):
        WebSocket(f"ws://127.0.0.1:{listener.getsockname()[1]}/ws", timeout=10)
    listener.close()


def test_downloads_never_overwrite_an_earlier_result(tmp_path):
    first = tmp_path / "job_00001_.mp4"
    assert unused_path(first) == first
    first.write_bytes(b"earlier")
    assert unused_path(first) == tmp_path / "job_00001_ (2).mp4"
