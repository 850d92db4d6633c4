"""The queue client (``python -m rewind_queue``) against a hostile server: a scripted ComfyUI on
127.0.0.1 (testbed/fake_comfy.py) that drips bytes, floods /ws, lies about sizes, answers garbage,
redirects, speaks TLS or sends terminal escapes; and the real hostile server for ProRes outputs.

Every run is a subprocess, as users run the client. Its `timeout` is a hang detector only
(DEVELOPERS.md), never a speed requirement."""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewind import video_io as vio
from rewind.rewind_queue.ws import OP_TEXT
from rewind.testbed.server_client import load_and_combine
from rewind.testbed.fake_comfy import (
    HISTORY_PATH, OUTPUT_BYTES, OUTPUT_NAME, PROMPT_ID, FakeComfy, answer, dripping, finished_history, http_answer,
    http_head, json_answer, output_entry, websocket, ws_frame,
)

ROOT = Path(__file__).resolve().parents[2]
HANG_LIMIT = 45.0  # a hang detector: the longest run here takes 5.3 s (--timeout 5 against a drip); at 45 s it hangs
SAVE_IMAGE = {"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "fake"}}}


@pytest.fixture
def fake_comfy():
    server = FakeComfy()
    yield server
    server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made now by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_comfy(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = FakeComfy(tls=context)
    yield server
    server.close()


def run_client(url: str, tmp_path: Path, *args: str, prompt: dict = SAVE_IMAGE, env: dict | None = None,
               hang_limit: float = HANG_LIMIT) -> subprocess.CompletedProcess:
    workflow = tmp_path / "workflow.json"
    workflow.write_text(json.dumps(prompt))
    command = [sys.executable, "-m", "rewind_queue", str(workflow), "--server", url, "--out", str(tmp_path / "out"), *args]
    try:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=hang_limit, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the client was still running after {hang_limit:g} s: it hangs")


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The client's only stderr line, once it has exited 1 with no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def files_in(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden .partial files included), relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def ws_json(message: dict) -> bytes:
    return ws_frame(OP_TEXT, json.dumps(message).encode())


def wait_for(condition, within: float) -> bool:
    """Whether ``condition()`` came true within ``within`` seconds (a hang detector's patience)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- 9. --timeout is one deadline over every request and the websocket -------------------------

@pytest.mark.parametrize("path", ["/prompt", HISTORY_PATH, "/view"])
def test_timeout_is_a_deadline_even_for_an_answer_dripped_a_byte_every_2_s(fake_comfy, tmp_path, path):
    body = {"/prompt": json.dumps({"prompt_id": PROMPT_ID}).encode(), HISTORY_PATH: json.dumps(finished_history()).encode(),
            "/view": OUTPUT_BYTES}[path]
    fake_comfy.routes[path] = dripping(http_answer(body), every=2.0)
    line = one_error_line(run_client(fake_comfy.url, tmp_path, "--timeout", "5"))
    assert "within 5 s" in line or "5 s time limit ran out" in line, line
    assert files_in(tmp_path / "out") == []


def test_a_ws_frame_claiming_2_to_the_40_bytes_is_refused_before_it_is_read(fake_comfy, tmp_path):
    def claim_a_terabyte(send, stopping):
        send(b"\x81\x7f" + (1 << 40).to_bytes(8, "big"))
        while not stopping.wait(0.05):
            send(bytes(1 << 16))

    fake_comfy.routes["/ws"] = websocket(claim_a_terabyte)
    fake_comfy.routes[HISTORY_PATH] = json_answer({})  # still running
    line = one_error_line(run_client(fake_comfy.url, tmp_path, "--timeout", "10"))
    assert line == "error: ComfyUI sent 1 TiB in a /ws message, over the 64 MiB limit (--max-answer raises it)"


def test_a_ws_that_never_stops_talking_does_not_starve_the_history_poll(fake_comfy, tmp_path):
    """The socket always holds unread messages (not about our prompt): a client that asks
    /history only when /ws falls quiet never asks."""
    def flood(send, stopping):
        batch = ws_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}}}) * 500
        while not stopping.is_set():
            send(batch)

    fake_comfy.routes["/ws"] = websocket(flood)
    result = run_client(fake_comfy.url, tmp_path, "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / OUTPUT_NAME).read_bytes() == OUTPUT_BYTES


# --- 10. bad answers, https, bad arguments, terminal escapes ------------------------------------

def non_utf8_ws_text(send, stopping):
    send(ws_frame(OP_TEXT, b"\xff\xfe{}"))
    stopping.wait(30)


def invalid_json_ws_text(send, stopping):
    send(ws_frame(OP_TEXT, b"{progress"))
    stopping.wait(30)


MALFORMED = {
    "invalid JSON": ("/prompt", answer(b"{not json"), "ComfyUI sent invalid JSON in the answer to /prompt"),
    "list for object": (HISTORY_PATH, json_answer([PROMPT_ID]),
                        f"ComfyUI sent a list in the answer to {HISTORY_PATH} where a JSON object belongs"),
    "outputs of text": (HISTORY_PATH, json_answer({PROMPT_ID: {"outputs": "done", "status": {}}}),
                        "ComfyUI sent a string in the outputs of the history entry"),
    "text error": ("/prompt", json_answer({"error": "no prompt", "node_errors": []}, status=400),
                   "error: ComfyUI rejected the workflow: no prompt"),
    "redirect": ("/prompt", answer(b"", 302, {"Location": "/moved/prompt"}),
                 "answered /prompt with a redirect (HTTP 302) to '/moved/prompt'; the client follows no redirects"),
    "server error": (HISTORY_PATH, answer(b"<html>\n<b>boom</b></html>", 500),
                     f"ComfyUI answered {HISTORY_PATH} with HTTP 500 Internal Server Error: <html> <b>boom</b></html>"),
    "not HTTP": (HISTORY_PATH, lambda handler: handler.wfile.write(b"HELLO\r\n\r\n"),
                 f"ComfyUI sent a broken HTTP answer to {HISTORY_PATH}"),
    "non-UTF-8 ws text": ("/ws", websocket(non_utf8_ws_text), "ComfyUI sent a /ws text message that is not UTF-8"),
    "invalid ws JSON": ("/ws", websocket(invalid_json_ws_text), "ComfyUI sent invalid JSON in a /ws message"),
    "file name of numbers": (HISTORY_PATH, json_answer(finished_history({"9": {"images": [{"filename": 5}]}})),
                             "ComfyUI sent an output file whose name, subfolder or type is not text"),
    "file name of dots": (HISTORY_PATH, json_answer(finished_history({"9": {"images": [output_entry("..")]}})),
                          "ComfyUI named an output '..', which leaves no usable file name"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_answer_is_one_line_saying_what_was_wrong(fake_comfy, tmp_path, case):
    path, route, expected = MALFORMED[case]
    fake_comfy.routes[path] = route
    line = one_error_line(run_client(fake_comfy.url, tmp_path, "--timeout", "20"))
    assert expected in line, line
    assert "cannot reach" not in line
    assert files_in(tmp_path / "out") == []


def test_https_and_wss_run_a_prompt_end_to_end(tls_comfy, certificate, tmp_path):
    def progress_then_done(send, stopping):
        send(ws_json({"type": "executing", "data": {"node": "9", "prompt_id": PROMPT_ID}}))
        send(ws_json({"type": "executing", "data": {"node": None, "prompt_id": PROMPT_ID}}))
        stopping.wait(30)

    tls_comfy.routes["/ws"] = websocket(progress_then_done)
    result = run_client(tls_comfy.url, tmp_path, "--timeout", "20", env={**os.environ, "SSL_CERT_FILE": str(certificate[0])})
    assert result.returncode == 0, result.stderr
    assert "node 9 (SaveImage)" in result.stderr  # progress came over wss://
    assert (tmp_path / "out" / OUTPUT_NAME).read_bytes() == OUTPUT_BYTES


def test_an_untrusted_certificate_is_one_clear_line(tls_comfy, tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    line = one_error_line(run_client(tls_comfy.url, tmp_path, "--timeout", "20", env=env))
    assert f"ComfyUI at {tls_comfy.url} shows a certificate this machine does not trust" in line, line


@pytest.mark.parametrize("option, value", [("--timeout", "nan"), ("--timeout", "-1"), ("--timeout", "inf"), ("--timeout", "0"),
                                           ("--server", "ftp://127.0.0.1:8188"), ("--server", "127.0.0.1:8188"),
                                           ("--max-download", "0"), ("--max-answer", "lots")])
def test_bad_arguments_exit_2_before_anything_is_sent(fake_comfy, tmp_path, option, value):
    result = run_client(fake_comfy.url, tmp_path, option, value)
    assert result.returncode == 2, result.stderr
    assert f"argument {option}: " in result.stderr
    assert fake_comfy.requests == []


ESCAPES = "\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[31m\x9b1A\r"


def test_server_text_reaches_the_terminal_without_control_sequences(fake_comfy, tmp_path):
    failure = {"node_id": "9", "node_type": f"SaveImage{ESCAPES}", "exception_type": "ValueError",
               "exception_message": f"{ESCAPES}disk on fire\x1b[0m", "traceback": [f"line 1{ESCAPES}\n"]}
    fake_comfy.routes[HISTORY_PATH] = json_answer(finished_history({}, "error", [["execution_error", failure]]))
    failed = run_client(fake_comfy.url, tmp_path, "--timeout", "20")
    texts = {"9": {"text": [f"{ESCAPES}caption"], "images": []}}
    fake_comfy.routes[HISTORY_PATH] = json_answer(finished_history(texts))
    succeeded = run_client(fake_comfy.url, tmp_path, "--timeout", "20")
    assert failed.returncode == 1 and "SaveImage): ValueError: disk on fire" in failed.stderr, failed.stderr
    assert succeeded.returncode == 0 and succeeded.stdout == "caption\n", succeeded.stderr
    for stream in (failed.stdout, failed.stderr, succeeded.stdout, succeeded.stderr):
        assert not set(stream) & set("\x1b\x07\x9b\r"), repr(stream)


def test_server_file_names_are_made_safe_inside_out_and_never_overwrite(fake_comfy, tmp_path):
    names = [output_entry(f"{ESCAPES}red.png"), output_entry("../../../escaped.png", subfolder="../.."),
             output_entry("C:\\Users\\x\\win.png"), output_entry("frame.png", subfolder="../seq")]
    fake_comfy.routes[HISTORY_PATH] = json_answer(finished_history({"9": {"images": names}}))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "red.png").write_bytes(b"an earlier result")
    result = run_client(fake_comfy.url, tmp_path, "--timeout", "20")
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path / "out") == ["escaped.png", "red (2).png", "red.png", "seq/frame.png", "win.png"]
    assert (tmp_path / "out" / "red.png").read_bytes() == b"an earlier result"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "workflow.json"]


# --- 11. downloads stream to disk under a size limit --------------------------------------------

def partial_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*.partial")) if folder.exists() else 0


def test_a_download_reaches_the_disk_while_its_body_is_still_arriving(fake_comfy, tmp_path):
    half = 1 << 20
    seen = {}

    def two_halves(handler):
        handler.wfile.write(http_head(200, {"Content-Length": 2 * half}) + b"a" * half)
        # a hang detector's patience: the bytes are on disk within milliseconds, or never (whole-body reads)
        seen["first half on disk"] = wait_for(lambda: partial_bytes(tmp_path / "out") >= half // 2, within=20)
        handler.wfile.write(b"b" * half)

    fake_comfy.routes["/view"] = two_halves
    result = run_client(fake_comfy.url, tmp_path, "--timeout", "40")
    assert result.returncode == 0, result.stderr
    assert seen["first half on disk"]  # written while the second half was not even sent
    assert (tmp_path / "out" / OUTPUT_NAME).read_bytes() == b"a" * half + b"b" * half
    assert files_in(tmp_path / "out") == [OUTPUT_NAME]


def declared_gibibyte(handler):
    handler.wfile.write(http_head(200, {"Content-Length": 1 << 30}) + bytes(1 << 16))
    handler.server.fake.stopping.wait(30)


def undeclared_3_mib(handler):
    handler.wfile.write(http_head(200, {"Content-Length": None}))
    for _ in range(48):
        handler.wfile.write(bytes(1 << 16))


@pytest.mark.parametrize("route, sent", [(declared_gibibyte, "1 GiB"), (undeclared_3_mib, "more")])
def test_a_download_over_the_limit_is_cut_off_leaving_nothing(fake_comfy, tmp_path, route, sent):
    fake_comfy.routes["/view"] = route
    line = one_error_line(run_client(fake_comfy.url, tmp_path, "--timeout", "20", "--max-download", "1M"))
    assert line.startswith(f"error: ComfyUI sent {sent} in the file '{OUTPUT_NAME}'"), line
    assert line.endswith("the 1 MiB limit (--max-download raises it)"), line
    assert files_in(tmp_path / "out") == []


def declared_600_mb_history(handler):
    handler.wfile.write(http_head(200, {"Content-Length": 600_000_000}) + b'{"' + PROMPT_ID.encode())
    handler.server.fake.stopping.wait(30)


def undeclared_2_mib_history(handler):
    handler.wfile.write(http_head(200, {"Content-Length": None}) + b'{"pad": "' + b"x" * (2 << 20) + b'"}')


@pytest.mark.parametrize("route, args, expected", [
    (declared_600_mb_history, (), f"ComfyUI sent 572.2 MiB in the answer to {HISTORY_PATH}, over the 64 MiB limit"),
    (undeclared_2_mib_history, ("--max-answer", "1M"), f"ComfyUI sent more in the answer to {HISTORY_PATH} than the 1 MiB limit"),
])
def test_an_oversized_json_answer_is_refused(fake_comfy, tmp_path, route, args, expected):
    fake_comfy.routes[HISTORY_PATH] = route
    line = one_error_line(run_client(fake_comfy.url, tmp_path, "--timeout", "20", *args))
    assert line == f"error: {expected} (--max-answer raises it)"


# --- 12. ProRes: the master is downloaded, not only its h264 preview -----------------------------

def test_prores_master_is_downloaded_beside_its_preview(client, hostile_server, tmp_path):
    prompt = load_and_combine(client.good, load={"frame_load_cap": 4},
                              combine={"format": "video/ProRes", "filename_prefix": "hostile/prores"})
    result = run_client(hostile_server.url, tmp_path, "--timeout", "240", prompt=prompt, hang_limit=300)  # runs in 2.5 s
    assert result.returncode == 0, result.stderr
    saved = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(path.suffix for path in saved) == [".mov", ".mp4"]
    master, = [path for path in saved if path.suffix == ".mov"]
    assert vio.probe(str(master)).pix_fmt == "yuv422p10le" and vio.probe(str(master)).frame_count == 4
