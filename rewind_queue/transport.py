"""What the HTTP API and the websocket stand on: one deadline for the whole run, sockets (TLS for
https:// and wss://) that never wait past it, and bodies read in bounded chunks under a size
limit. Standard library only, so the client runs anywhere."""
from __future__ import annotations

import functools
import http.client
import io
import json
import math
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import NamedTuple

from .failures import BadAnswer, TimedOut, cannot_save

CHUNK_BYTES = 1 << 16
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
SIZE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")
JSON_KINDS = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number", type(None): "null"}


class Deadline:
    """When the run must be over, on the monotonic clock. Every socket operation waits at most
    until then, so no server (dripping bytes, flooding messages) holds the client past it."""

    def __init__(self, seconds: float = math.inf):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise TimedOut(f"the {self.seconds:g} s time limit ran out")

    def timeout(self, wait: float) -> float:
        """The timeout for one socket operation: ``wait``, cut short at the deadline."""
        self.check()
        return min(wait, self.remaining())

    def sleep(self, seconds: float) -> None:
        time.sleep(self.timeout(seconds))

    def sooner(self, seconds: float) -> Deadline:
        """This deadline or one ``seconds`` from now, whichever comes first."""
        other = Deadline(seconds)
        return other if other.ends < self.ends else self


@dataclass(frozen=True)
class Origin:
    """Where a URL's connections go, and the path prefix its requests start with (a ComfyUI
    behind a reverse proxy may live under one)."""
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1:
            raise ValueError(f"{url!r} is not a server address like http://127.0.0.1:8188 or https://example.com")
        return cls(parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.path.rstrip("/"))

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self.scheme]


class DeadlineSocket:
    """A connected socket whose every send and receive waits at most ``per_op`` seconds and never
    past the deadline: a server that drips one byte at a time cannot stretch a request. http.client
    reads it through ``makefile``, the websocket through ``receive``. Like a plain socket it stays
    open while a file made by ``makefile`` is: http.client closes the connection before it reads
    the body."""

    def __init__(self, sock: socket.socket, deadline: Deadline, per_op: float):
        self.sock, self.deadline, self.per_op = sock, deadline, per_op
        self._holders, self._closed = 1, False

    def receive(self, size: int, wait: float) -> bytes:
        """Up to ``size`` bytes; TimeoutError after ``wait`` seconds, TimedOut at the deadline."""
        return self._waiting(wait, self.sock.recv, size)

    def receive_into(self, buffer) -> int:
        return self._waiting(self.per_op, self.sock.recv_into, buffer)

    def sendall(self, data: bytes) -> None:
        self._waiting(self.per_op, self.sock.sendall, data)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        self._holders += 1
        return io.BufferedReader(_SocketFile(self))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.release()

    def release(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            self.sock.close()

    def _waiting(self, wait: float, operation, argument):
        self.sock.settimeout(self.deadline.timeout(wait))
        try:
            return operation(argument)
        except TimeoutError:
            self.deadline.check()
            raise


class _SocketFile(io.RawIOBase):
    """The raw file under ``DeadlineSocket.makefile``."""

    def __init__(self, owner: DeadlineSocket):
        super().__init__()
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.owner.receive_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.owner.release()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The system's trusted certificates (``SSL_CERT_FILE`` adds a private CA), host names checked."""
    return ssl.create_default_context()


def open_socket(origin: Origin, deadline: Deadline, per_op: float) -> DeadlineSocket:
    try:
        sock = socket.create_connection((origin.host, origin.port), timeout=deadline.timeout(per_op))
    except TimeoutError:
        deadline.check()
        raise ConnectionError(f"no connection within {per_op:g} s") from None
    if origin.tls:
        try:
            sock = tls_context().wrap_socket(sock, server_hostname=origin.host)
        except BaseException:
            sock.close()
            raise
    return DeadlineSocket(sock, deadline, per_op)


class DeadlineHTTPConnection(http.client.HTTPConnection):
    """http.client over a DeadlineSocket: TLS for https://, and no read or write past the deadline.
    Like the websocket beside it, it uses no proxy."""

    def __init__(self, origin: Origin, deadline: Deadline, per_op: float):
        self.default_port = origin.default_port  # the Host header leaves out the scheme's own port
        super().__init__(origin.host, origin.port)
        self.origin, self.deadline, self.per_op = origin, deadline, per_op

    def connect(self) -> None:
        self.sock = open_socket(self.origin, self.deadline, self.per_op)


def format_size(count: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in SIZE_UNITS:
        if count < 1024 or unit == SIZE_UNITS[-1]:
            return f"{count:.4g} {unit}"
        count /= 1024


class SizeLimit(NamedTuple):
    """A cap on the bytes one answer may carry, and the option that raises it."""
    bytes: int
    option: str

    def refusal(self, what: str, size: int | None = None) -> BadAnswer:
        sent = f"{format_size(size)} in {what}, over" if size is not None else f"more in {what} than"
        return BadAnswer(f"ComfyUI sent {sent} the {format_size(self.bytes)} limit ({self.option} raises it)")


ANSWER_LIMIT = SizeLimit(64 << 20, "--max-answer")  # a JSON answer or a /ws message
FILE_LIMIT = SizeLimit(4 << 30, "--max-download")  # one output file


def copy_body(response: http.client.HTTPResponse, sink, limit: SizeLimit, what: str) -> None:
    """Copies an HTTP body into ``sink`` one bounded chunk at a time, refusing it by its declared
    length before reading any of it and by the running count while reading: a body never sits
    whole in memory on its way to a file, and never grows past ``limit``."""
    if response.length is not None and response.length > limit.bytes:
        raise limit.refusal(what, response.length)
    received = 0
    while chunk := response.read1(CHUNK_BYTES):
        received += len(chunk)
        if received > limit.bytes:
            raise limit.refusal(what)
        try:
            sink.write(chunk)
        except OSError as error:  # raised here, it would read as the server's fault
            raise cannot_save(what, error) from None


def parse_json(data: bytes | str, what: str):
    """``data`` as JSON, else a BadAnswer naming ``what`` (bad UTF-8 and runaway nesting too)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise BadAnswer(f"ComfyUI sent invalid JSON in {what} ({str(error)[:120]})") from None


def expect_object(value, what: str) -> dict:
    """``value`` when it is a JSON object; the client reads every answer as one."""
    if not isinstance(value, dict):
        raise BadAnswer(f"ComfyUI sent {JSON_KINDS.get(type(value), 'something else')} in {what} where a JSON object belongs")
    return value


def as_object(value) -> dict:
    """``value`` when it is an object, else an empty one: for reading optional fields leniently."""
    return value if isinstance(value, dict) else {}
