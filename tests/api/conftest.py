"""Fixtures for the HTTP API: a real app served by uvicorn on loopback, and httpx clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from appliance.api.app import create_app
from appliance.api.dependencies import ApiServices
from appliance.domain.types import Actor
from appliance.server import api_services
from appliance.wiring import Appliance


@dataclass
class LiveServer:
    """A running server and a token per role."""

    url: str
    tokens: dict[str, str]
    appliance: Appliance

    def client(self, role: str | None = None) -> httpx.Client:
        """An httpx client with the bearer token of ``role`` (or none)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(state: ApiServices, **app_options: object) -> Iterator[str]:
    """Run the app under uvicorn in a thread until the generator is closed."""
    app = create_app(state, **app_options)  # type: ignore[arg-type]
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(appliance: Appliance) -> Iterator[LiveServer]:
    """The app over real HTTP with no encoders, and one token per role."""
    tokens = {
        role: appliance.tokens.create(role, actor=Actor.operator())
        for role in ("admin", "ingest", "query", "auditor")
    }
    state = api_services(appliance)
    for url in serve(state, failures_per_minute=5):
        yield LiveServer(url, tokens, appliance)


@pytest.fixture(scope="session")
def test_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny non-semantic pack (CLIP text/image, CLAP audio), built once per session."""
    from appliance.encoders.testpack import write_test_pack

    return write_test_pack(tmp_path_factory.mktemp("pack") / "pack")


@pytest.fixture
def served(appliance: Appliance, test_pack: Path) -> Iterator[LiveServer]:
    """The full app over real HTTP: test pack encoders, policies, detectors, one token per role."""
    from appliance.models import ModelStore
    from appliance.server import build_state

    ModelStore(appliance.settings.models_dir).import_path(test_pack)
    tokens = {
        role: appliance.tokens.create(role, actor=Actor.operator())
        for role in ("admin", "ingest", "query", "auditor")
    }
    state = build_state(appliance)
    try:
        for url in serve(state):
            yield LiveServer(url, tokens, appliance)
    finally:
        if state.encoders is not None:
            state.encoders.close()  # type: ignore[attr-defined]
