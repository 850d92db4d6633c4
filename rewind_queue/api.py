"""ComfyUI's HTTP API (``/prompt``, ``/history``, ``/upload/image``, ``/view``, ``/object_info``)
over urllib, so the client needs nothing outside the standard library."""
from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path


class PromptRejected(RuntimeError):
    """``/prompt`` answered 400: the body holds ComfyUI's ``error`` and ``node_errors``."""

    def __init__(self, body: dict):
        super().__init__(body.get("error", {}).get("message", "prompt rejected"))
        self.body = body


class ServerUnreachable(ConnectionError):
    pass


class ComfyAPI:
    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._object_info: dict | None = None

    def _open(self, request: urllib.request.Request | str):
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError) as error:
            raise ServerUnreachable(
                f"cannot reach ComfyUI at {self.url} ({getattr(error, 'reason', error)}): "
                "start it (`python main.py`) or pass --server URL"
            ) from error

    def get_json(self, path: str):
        with self._open(self.url + path) as response:
            return json.load(response)

    def post_json(self, path: str, payload: dict):
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with self._open(request) as response:
            return json.load(response)

    @property
    def websocket_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/ws"

    def object_info(self) -> dict:
        if self._object_info is None:
            self._object_info = self.get_json("/object_info")
        return self._object_info

    def queue_prompt(self, prompt: dict, client_id: str) -> tuple[str, dict]:
        """(prompt id, node errors): ComfyUI queues a prompt whose other outputs are valid and
        returns the errors of the outputs it dropped."""
        try:
            answer = self.post_json("/prompt", {"prompt": prompt, "client_id": client_id})
            return answer["prompt_id"], answer.get("node_errors") or {}
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                parsed = json.loads(body)
            except json.JSONDecodeError:
                parsed = {"error": {"message": f"HTTP {error.code}: {body.decode(errors='replace')[:500]}"}}
            raise PromptRejected(parsed) from None

    def history(self, prompt_id: str) -> dict | None:
        """The finished prompt's history entry, or None while it is still queued or running."""
        return self.get_json(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)

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
        request = urllib.request.Request(
            self.url + "/upload/image", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with self._open(request) as response:
            uploaded = json.load(response)
        return f"{uploaded['subfolder']}/{uploaded['name']}" if uploaded.get("subfolder") else uploaded["name"]

    def view(self, filename: str, subfolder: str, folder_type: str) -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        with self._open(f"{self.url}/view?{query}") as response:
            return response.read()
