"""Attack: make the server log the input. A handler failing with the request's text in its
exception message, and a malformed request that uvicorn itself complains about, must both
end up as redacted JSON lines on the appliance's log stream (not uvicorn's plain text)."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from litestar import post
from litestar.params import JSONBody

from appliance.api.app import create_app
from appliance.observability import configure_logging
from appliance.server import api_services, uvicorn_config
from appliance.settings import ServerSettings
from appliance.wiring import Appliance
from tests.api.conftest import _free_port

NOTE = "Patient Jane Roe, MRN 88442211, DOB 03/14/1961, jane.roe@example.com"
SECRETS = ("Jane Roe", "88442211", "03/14/1961", "jane.roe@example.com")


@post("/v1/explode", opt={"public": True}, sync_to_thread=False)
def explode(data: JSONBody[dict[str, str]]) -> None:
    """A route that fails the way a buggy parser would: with the input in the message."""
    raise ValueError(f"could not parse {data['text']!r}")


@pytest.fixture
def logged_server(appliance: Appliance) -> Iterator[tuple[str, io.StringIO]]:
    """The app under the real uvicorn_config, logging to a captured stream."""
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, threading.excepthook
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    state = api_services(appliance)
    port = _free_port()
    app = create_app(state, extra_routes=[explode])
    server = uvicorn.Server(uvicorn_config(app, ServerSettings(), host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", stream
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        root.handlers[:] = handlers
        root.setLevel(level)
        threading.excepthook = hook


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_unexpected_error_with_input_in_its_message_is_not_logged(
    logged_server: tuple[str, io.StringIO],
) -> None:
    """The 500's log line names the error type and where it was raised, never the text."""
    url, stream = logged_server
    response = httpx.post(f"{url}/v1/explode", json={"text": NOTE}, timeout=30)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    (line,) = [line for line in _lines(stream) if line["event"] == "api.unexpected"]
    assert line["error_type"] == "ValueError"
    assert line["error"].startswith("ValueError at ") and "in explode" in line["error"]
    leaked = [secret for secret in SECRETS if secret in stream.getvalue()]
    assert not leaked, stream.getvalue()


def test_uvicorn_complaints_are_json_lines_on_the_appliance_stream(
    logged_server: tuple[str, io.StringIO],
) -> None:
    """A garbage request line carrying PHI makes uvicorn warn; the warning is one of our JSON
    lines (logger uvicorn.error) and carries none of what was sent."""
    url, stream = logged_server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GARBAGE {NOTE}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")  # uvicorn logs, then answers
    uvicorn_lines = [
        line for line in _lines(stream) if line.get("logger", "").startswith("uvicorn")
    ]
    assert uvicorn_lines, stream.getvalue()
    assert uvicorn_lines[0]["level"] == "warning"
    leaked = [secret for secret in SECRETS if secret in stream.getvalue()]
    assert not leaked, stream.getvalue()
