"""How talking to a server can fail. Each message is one line for users; the command line
prints it and exits 1."""
from __future__ import annotations


class ClientFailure(RuntimeError):
    """The run cannot go on; the message says why and, where it can, what to do."""


class ServerUnreachable(ClientFailure):
    """No connection (refused, no route, untrusted certificate)."""


class BadAnswer(ClientFailure):
    """The server answered, but with something the client will not use: broken HTTP, invalid
    JSON, the wrong shape, a redirect, an error status, more bytes than allowed."""


class TimedOut(ClientFailure):
    """The run's deadline passed."""


def cannot_save(what: str, error: OSError) -> ClientFailure:
    """A local write failed (disk full, no permission): no fault of the server's."""
    return ClientFailure(f"cannot save {what} ({error.strerror or error})")
