"""ComfyUI's HTTP API (``/prompt``, ``/history``, ``/upload/image``, ``/view``, ``/object_info``)
over http.client: every request runs under the run's deadline, every answer is checked (status,
size, JSON shape) before use, and files stream to their destination."""
from __future__ import annotations

import copy
import http.client
import io
import json
import mimetypes
import ssl
import urllib.parse
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .failures import BadAnswer, ClientFailure, ServerUnreachable, TimedOut
from .transport import (
    ANSWER_LIMIT, FILE_LIMIT, Deadline, DeadlineHTTPConnection, Origin, SizeLimit, as_object, copy_body, expect_object, parse_json,
)

ERROR_SNIPPET_BYTES = 4096


class PromptRejected(RuntimeError):
    """``/prompt`` answered 400: the body holds ComfyUI's ``error`` and ``node_errors``."""

    def __init__(self, body: dict):
        super().__init__(as_object(body.get("error")).get("message", "prompt rejected"))
        self.body = body


@dataclass(frozen=True)
class Limits:
    answers: SizeLimit = ANSWER_LIMIT
    files: SizeLimit = FILE_LIMIT


class ComfyAPI:
    """``timeout`` bounds each socket operation, ``deadline`` the whole run."""

    def __init__(self, url: str, timeout: float = 60.0, deadline: Deadline | None = None, limits: Limits = Limits()):
        self.url = url.rstrip("/")
        self.origin = Origin.parse(self.url)
        self.timeout = timeout
        self.deadline = deadline or Deadline()
        self.limits = limits
        self._object_info: dict | None = None

    def within(self, seconds: float) -> ComfyAPI:
        """This API with its deadline at most ``seconds`` from now."""
        api = copy.copy(self)
        api.deadline = self.deadline.sooner(seconds)
        return api

    @contextmanager
    def _exchange(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                  query: dict | None = None, statuses: tuple[int, ...] = (200,)):
        """One request on its own connection; yields the response once its status is one of
        ``statuses``, and turns every way the exchange can fail (also while the caller reads
        the body) into a one-line ClientFailure."""
        target = self.origin.path + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        connection = DeadlineHTTPConnection(self.origin, self.deadline, self.timeout)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            if response.status not in statuses:
                raise self._refused_status(response, path)
            yield response
        except TimedOut as error:
            raise TimedOut(f"{error} waiting for ComfyUI's answer to {path}") from None
        except ClientFailure:
            raise
        except http.client.HTTPException as error:
            raise BadAnswer(f"ComfyUI sent a broken HTTP answer to {path} ({type(error).__name__})") from None
        except ssl.SSLCertVerificationError as error:
            raise ServerUnreachable(
                f"ComfyUI at {self.url} shows a certificate this machine does not trust ({error.verify_message}): "
                "set SSL_CERT_FILE to the certificate of the CA that signed it"
            ) from None
        except TimeoutError:
            raise BadAnswer(f"ComfyUI stopped answering {path} (nothing for {self.timeout:g} s)") from None
        except OSError as error:
            raise ServerUnreachable(
                f"cannot reach ComfyUI at {self.url} ({error.strerror or error}): "
                "start it (`python main.py`) or pass --server URL"
            ) from None
        finally:
            connection.close()

    def _refused_status(self, response: http.client.HTTPResponse, path: str) -> BadAnswer:
        if 300 <= response.status < 400:
            return BadAnswer(
                f"ComfyUI at {self.url} answered {path} with a redirect (HTTP {response.status}) to "
                f"{response.getheader('Location', '(nowhere)')!r}; the client follows no redirects: "
                "pass the address it should use as --server"
            )
        snippet = " ".join(response.read1(ERROR_SNIPPET_BYTES).decode(errors="replace").split())
        return BadAnswer(f"ComfyUI answered {path} with HTTP {response.status} {response.reason}: {snippet[:300]}")

    def request_json(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                     statuses: tuple[int, ...] = (200,)) -> tuple[int, object]:
        """(status, parsed answer), the answer read under the answer size limit."""
        headers = {"Content-Type": content_type} if content_type else {}
        with self._exchange(method, path, body, headers, statuses=statuses) as response:
            answer = io.BytesIO()
            copy_body(response, answer, self.limits.answers, f"the answer to {path}")
            return response.status, parse_json(answer.getvalue(), f"the answer to {path}")

    def get_json(self, path: str):
        return self.request_json("GET", path)[1]

    @property
    def websocket_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/ws"

    def object_info(self) -> dict:
        if self._object_info is None:
            self._object_info = expect_object(self.get_json("/object_info"), "the answer to /object_info")
        return self._object_info

    def queue_prompt(self, prompt: dict, client_id: str) -> tuple[str, dict]:
        """(prompt id, node errors): ComfyUI queues a prompt whose other outputs are valid and
        returns the errors of the outputs it dropped."""
        payload = json.dumps({"prompt": prompt, "client_id": client_id}).encode()
        status, answer = self.request_json("POST", "/prompt", payload, "application/json", statuses=(200, 400))
        answer = expect_object(answer, "the answer to /prompt")
        if status == 400:
            raise PromptRejected(answer)
        prompt_id = answer.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise BadAnswer("ComfyUI sent no prompt_id in the answer to /prompt")
        return prompt_id, as_object(answer.get("node_errors"))

    def history(self, prompt_id: str) -> dict | None:
        """The finished prompt's history entry, or None while it is still queued or running."""
        path = f"/history/{urllib.parse.quote(prompt_id)}"
        entry = expect_object(self.get_json(path), f"the answer to {path}").get(prompt_id)
        return None if entry is None else checked_history_entry(entry, f"the history entry in the answer to {path}")

    def upload(self, path: Path, subfolder: str = "") -> str:
        """Uploads any file into ComfyUI's input folder; returns the name a loader node takes."""
        path = Path(path)
        boundary = uuid.uuid4().hex
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        fields = [("overwrite", "true"), ("type", "input"), ("subfolder", subfolder)]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        answer = self.request_json("POST", "/upload/image", body, f"multipart/form-data; boundary={boundary}")[1]
        uploaded = expect_object(answer, "the answer to /upload/image")
        name, folder = uploaded.get("name"), uploaded.get("subfolder") or ""
        if not (isinstance(name, str) and name and isinstance(folder, str)):
            raise BadAnswer("ComfyUI sent no uploaded file name in the answer to /upload/image")
        return f"{folder}/{name}" if folder else name

    def view(self, filename: str, subfolder: str, folder_type: str, sink) -> None:
        """Streams one output file into ``sink``, under the file size limit."""
        query = {"filename": filename, "subfolder": subfolder, "type": folder_type}
        with self._exchange("GET", "/view", query=query) as response:
            copy_body(response, sink, self.limits.files, f"the file {filename!r}")


def checked_history_entry(entry, what: str) -> dict:
    """The entry, once its ``status.messages`` are [kind, object] pairs and its ``outputs`` map
    node ids to objects: the shapes the client reads."""
    entry = expect_object(entry, what)
    status = expect_object(entry.get("status") or {}, f"the status of {what}")
    outputs = expect_object(entry.get("outputs") or {}, f"the outputs of {what}")
    messages = status.get("messages") or []
    if not isinstance(messages, list) or not all(
        isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict) for message in messages
    ):
        raise BadAnswer(f"ComfyUI sent status messages that are not [kind, data] pairs in {what}")
    for node_output in outputs.values():
        expect_object(node_output, f"a node's outputs in {what}")
    return entry
