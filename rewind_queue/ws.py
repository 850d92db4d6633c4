"""A minimal read-only WebSocket client (RFC 6455) over ``socket`` (``ssl`` for wss://).

ComfyUI reports progress on ``/ws``; reading it needs only the handshake, unmasked server
frames and pong replies, so the queue client stays stdlib-only and runs on any machine. Frames
stay in the buffer until whole, so a wait that runs out mid-frame loses nothing, and a frame's
declared length is checked against the size limit before any of it is read.
"""
from __future__ import annotations

import base64
import os
import time
import urllib.parse

from .failures import BadAnswer, ClientFailure
from .transport import ANSWER_LIMIT, Deadline, Origin, SizeLimit, open_socket, parse_json

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE_BYTES = 1 << 16
RECEIVE_BYTES = 1 << 16


class WebSocketClosed(ConnectionError):
    pass


def masked(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeated 4-byte mask, which both masks and unmasks (RFC 6455 5.3)."""
    key = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")


def frame_header(buffer: bytearray) -> tuple[int, int] | None:
    """(header length, payload length) once ``buffer`` holds a whole frame header, else None."""
    if len(buffer) < 2:
        return None
    size_code = buffer[1] & 0x7F
    size_bytes = {126: 2, 127: 8}.get(size_code, 0)
    header_length = 2 + size_bytes + (4 if buffer[1] & 0x80 else 0)
    if len(buffer) < header_length:
        return None
    return header_length, int.from_bytes(buffer[2:2 + size_bytes], "big") if size_bytes else size_code


class WebSocket:
    """``timeout`` bounds each wait without a ``wait`` of its own, ``deadline`` the whole run,
    ``limit`` one message (all its fragments together)."""

    def __init__(self, url: str, timeout: float = 30.0, deadline: Deadline | None = None, limit: SizeLimit = ANSWER_LIMIT):
        self.timeout, self.limit = timeout, limit
        self.sock = open_socket(Origin.parse(url), deadline or Deadline(), timeout)
        self._buffer = bytearray()
        self._message, self._message_opcode = bytearray(), OP_TEXT
        try:
            self._handshake(urllib.parse.urlsplit(url))
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self, parts) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        until = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HANDSHAKE_BYTES:
                raise ConnectionError("WebSocket handshake answer has no end")
            self._fill(until)
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        self._buffer = bytearray(rest)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"WebSocket handshake refused: {status.decode(errors='replace')}")

    def _fill(self, until: float) -> None:
        """More bytes into the buffer; TimeoutError once ``until`` has passed."""
        wait = until - time.monotonic()
        if wait <= 0:
            raise TimeoutError("no whole /ws message yet")
        chunk = self.sock.receive(RECEIVE_BYTES, wait)
        if not chunk:
            raise WebSocketClosed("server closed the connection")
        self._buffer += chunk

    def _read_frame(self, until: float) -> tuple[bool, int, bytes]:
        while (header := frame_header(self._buffer)) is None:
            self._fill(until)
        header_length, length = header
        if len(self._message) + length > self.limit.bytes:
            raise self.limit.refusal("a /ws message", len(self._message) + length)
        while len(self._buffer) < header_length + length:
            self._fill(until)
        first, second = self._buffer[0], self._buffer[1]
        payload = bytes(self._buffer[header_length:header_length + length])
        if second & 0x80:
            payload = masked(payload, self._buffer[header_length - 4:header_length])
        del self._buffer[:header_length + length]
        return bool(first & 0x80), first & 0x0F, payload

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        """Client frames must be masked (RFC 6455 5.3)."""
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked(payload, mask))

    def receive(self, wait: float | None = None) -> str | bytes:
        """The next complete text (str) or binary (bytes) message, answering pings on the way;
        TimeoutError when none is whole within ``wait`` seconds (default: ``timeout``)."""
        until = time.monotonic() + (self.timeout if wait is None else wait)
        while True:
            final, opcode, payload = self._read_frame(until)
            if opcode == OP_PING:
                self._send(OP_PONG, payload[:125])
                continue
            if opcode == OP_CLOSE:
                raise WebSocketClosed("server sent close")
            if opcode == OP_PONG:
                continue
            if opcode != OP_CONTINUATION:
                self._message_opcode = opcode
            self._message += payload
            if final:
                message, self._message = bytes(self._message), bytearray()
                return self._text(message) if self._message_opcode == OP_TEXT else message

    @staticmethod
    def _text(message: bytes) -> str:
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise BadAnswer("ComfyUI sent a /ws text message that is not UTF-8") from None

    def receive_json(self, wait: float | None = None):
        """The next JSON message, or None for a binary one (ComfyUI's preview images)."""
        message = self.receive(wait)
        return parse_json(message, "a /ws message") if isinstance(message, str) else None

    def close(self) -> None:
        try:
            self._send(OP_CLOSE)
        except (OSError, ClientFailure):  # gone already, or the deadline has passed
            pass
        self.sock.close()
