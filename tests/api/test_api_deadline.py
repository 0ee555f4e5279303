"""The request deadline over real HTTP: a hung model gives 504 and abandoned work never runs.

A client that closes its connection is noticed at once (not at its deadline): its
queued work is dropped before it reaches the model.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from appliance.domain.types import Actor, Modality
from appliance.settings import Settings, load_settings
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer, serve

DEADLINE_S = 4.0
LONG_DEADLINE_S = 600.0
"""For the disconnect test: far beyond how long it waits for the disconnect to be noticed."""


@pytest.fixture
def deadline_s() -> float:
    """The request deadline of the served app (a test may parametrize its own)."""
    return DEADLINE_S


@pytest.fixture
def settings(tmp_path: Path, deadline_s: float) -> Settings:
    """Default settings with a short request deadline."""
    base = load_settings(data_dir=tmp_path / "data", environ={})
    return replace(base, limits=replace(base.limits, request_deadline_s=deadline_s))


def _wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def hung(appliance: Appliance, test_pack: Path) -> Iterator[tuple[LiveServer, Any]]:
    """The full app over HTTP (short deadline) and its text engine, to hang its model."""
    from appliance.models import ModelStore
    from appliance.server import build_state

    ModelStore(appliance.settings.models_dir).import_path(test_pack)
    tokens = {"query": appliance.tokens.create("query", actor=Actor.operator())}
    state = build_state(appliance)
    try:
        for url in serve(state):
            yield LiveServer(url, tokens, appliance), state.encoders.engine(Modality.TEXT)
    finally:
        state.encoders.close()


def test_hung_model_answers_504_and_drops_abandoned_work(hung) -> None:
    """With the text model hung, callers get 504 deadline_exceeded; queued work is never run."""
    served, engine = hung
    with served.client("query") as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        client.post("/v1/embeddings", json={"model": model, "input": ["warm the detectors"]})
    encoder = engine.encoder
    gate, entered, calls, real_forward = _hang(encoder)
    answers: dict[str, object] = {}

    def first() -> None:
        with served.client("query") as client:
            answers["first"] = client.post(
                "/v1/embeddings", json={"model": model, "input": ["held by the hung model"]}
            )

    holder = threading.Thread(target=first)
    try:
        holder.start()
        assert entered.wait(30), "the first request never reached the model"
        with served.client("query") as client:
            second = client.post(
                "/v1/embeddings", json={"model": model, "input": ["queued behind it"]}
            )
        holder.join(60)
        assert second.status_code == 504, second.text
        assert second.json()["error"]["code"] == "deadline_exceeded"
        held = answers["first"]
        assert held.status_code == 504  # type: ignore[attr-defined]
    finally:
        gate.set()
        holder.join(60)
        encoder.forward = real_forward
    _wait_until(lambda: engine.stats().in_flight_items == 0 and engine.stats().queue_depth == 0)
    assert len(calls) == 1, "work of a request whose client got its 504 still ran"
    assert engine.stats().requests_cancelled >= 1


def _hang(encoder) -> tuple[threading.Event, threading.Event, list[int], Any]:
    """Make ``encoder.forward`` block on a gate; returns (gate, entered, calls, the real one)."""
    real_forward = encoder.forward
    gate, entered, calls = threading.Event(), threading.Event(), []

    def hung_forward(batch):
        calls.append(1)
        entered.set()
        gate.wait()
        return real_forward(batch)

    encoder.forward = hung_forward
    return gate, entered, calls, real_forward


def _send_raw_request(url: str, token: str, path: str, payload: dict) -> socket.socket:
    """Open a connection and send one complete HTTP/1.1 POST; the caller closes it."""
    parts = urlsplit(url)
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(head + body)
    return sock


def _requests_counted(served: LiveServer, path: str, status: int) -> bool:
    """True when /metrics shows a POST ``path`` answered with ``status``."""
    with served.client() as client:
        text = client.get("/metrics").text
    return (
        f'appliance_http_requests_total{{method="POST",route="{path}",status="{status}"}}' in text
    )


@pytest.mark.parametrize("deadline_s", [LONG_DEADLINE_S])
def test_client_that_disconnects_has_its_queued_work_dropped(hung) -> None:
    """A client closing its connection cancels its request at once: its work never runs."""
    served, engine = hung
    with served.client("query") as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        client.post("/v1/embeddings", json={"model": model, "input": ["warm the detectors"]})
    encoder = engine.encoder
    gate, entered, calls, real_forward = _hang(encoder)
    cancelled_before = engine.stats().requests_cancelled
    answers: dict[str, object] = {}

    def first() -> None:
        with served.client("query") as client:
            answers["first"] = client.post(
                "/v1/embeddings", json={"model": model, "input": ["held by the hung model"]}
            )

    holder = threading.Thread(target=first)
    try:
        holder.start()
        assert entered.wait(30), "the first request never reached the model"
        gone = _send_raw_request(
            served.url,
            served.tokens["query"],
            "/v1/embeddings",
            {"model": model, "input": ["the client of this one leaves"]},
        )
        with gone:  # wait until it is queued behind the hung batch, then hang up
            _wait_until(lambda: engine.stats().queue_depth + engine.stats().in_flight_items >= 2)
        # noticed while the model is still hung and long before the 600 s deadline
        _wait_until(lambda: _requests_counted(served, "/v1/embeddings", 499))
    finally:
        gate.set()
        holder.join(60)
        encoder.forward = real_forward
    assert answers["first"].status_code == 200  # type: ignore[attr-defined]
    _wait_until(lambda: engine.stats().in_flight_items == 0 and engine.stats().queue_depth == 0)
    assert len(calls) == 1, "work of a client that had gone away still reached the model"
    assert engine.stats().requests_cancelled == cancelled_before + 1
