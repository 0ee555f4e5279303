"""The request deadline over real HTTP: a hung model gives 504 and abandoned work never runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from appliance.domain.types import Actor, Modality
from appliance.settings import Settings, load_settings
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer, serve

DEADLINE_S = 4.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with a short request deadline."""
    base = load_settings(data_dir=tmp_path / "data", environ={})
    return replace(base, limits=replace(base.limits, request_deadline_s=DEADLINE_S))


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
    real_forward = encoder.forward
    gate, entered, calls = threading.Event(), threading.Event(), []

    def hung_forward(batch):
        calls.append(1)
        entered.set()
        gate.wait()
        return real_forward(batch)

    encoder.forward = hung_forward
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
