"""A minimal read-only WebSocket client (RFC 6455) over ``socket``.

ComfyUI reports progress on ``/ws``; reading it needs only the handshake, unmasked server
frames and pong replies, so the queue client stays stdlib-only and runs on any machine.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
import urllib.parse

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketClosed(ConnectionError):
    pass


class WebSocket:
    def __init__(self, url: str, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws":
            raise ValueError(f"only ws:// URLs are supported, got {url!r}")
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        self._buffer = b""
        self._handshake(parts)

    def _handshake(self, parts) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"WebSocket handshake refused: {status.decode(errors='replace')}")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WebSocketClosed("server closed the connection")
        self._buffer += chunk

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if second & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        """Client frames must be masked (RFC 6455 5.3)."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def receive(self) -> str | bytes:
        """The next complete text (str) or binary (bytes) message; answers pings on the way."""
        message, message_opcode = b"", None
        while True:
            final, opcode, payload = self._read_frame()
            if opcode == OP_PING:
                self._send(OP_PONG, payload[:125])
                continue
            if opcode == OP_CLOSE:
                raise WebSocketClosed("server sent close")
            if opcode == OP_PONG:
                continue
            if opcode != OP_CONTINUATION:
                message_opcode = opcode
            message += payload
            if final:
                return message.decode() if message_opcode == OP_TEXT else message

    def receive_json(self) -> dict | None:
        """The next JSON message, or None for a binary one (ComfyUI's preview images)."""
        message = self.receive()
        return json.loads(message) if isinstance(message, str) else None

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def close(self) -> None:
        try:
            self._send(OP_CLOSE)
        except OSError:
            pass
        self.sock.close()
