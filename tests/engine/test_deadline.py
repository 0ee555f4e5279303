"""Engine deadlines: a hung model cannot hold a caller; abandoned work is never run."""

from __future__ import annotations

import time

import pytest

from appliance.engine import EngineTimeoutError
from appliance.engine.deadline import (
    check_deadline,
    current_deadline,
    deadline_scope,
    remaining,
)
from appliance.errors import DeadlineExceededError


def test_hung_model_gives_deadline_exceeded(engine, encoder) -> None:
    """With the model hung, a caller under a request deadline gets deadline_exceeded, not a hang."""
    encoder.gate.clear()  # every forward pass now blocks until the gate opens
    with deadline_scope(0.2), pytest.raises(EngineTimeoutError) as caught:
        engine.encode_items(["the model never answers this"])
    assert caught.value.code == "deadline_exceeded"
    encoder.gate.set()


def test_expired_request_in_the_slot_is_never_forwarded(engine, encoder, wait_until) -> None:
    """A prepared item whose caller's deadline passed is dropped, not run."""
    warmups = len(encoder.forward_sizes)
    encoder.gate.clear()
    blocker = engine.submit(["holds the forward thread"])
    assert encoder.entered.acquire(timeout=10)
    with deadline_scope(0.1), pytest.raises(EngineTimeoutError):
        engine.encode(["prepared but abandoned"])
    wait_until(lambda: engine.stats().queue_depth == 0)
    encoder.gate.set()
    blocker.result(timeout=10)
    wait_until(lambda: engine.stats().in_flight_items == 0)
    assert len(encoder.forward_sizes) == warmups + 1, "the abandoned item went through the model"
    assert engine.stats().requests_cancelled == 1


def test_work_past_its_deadline_is_refused_before_queueing(engine, encoder) -> None:
    """A request whose deadline already passed (e.g. detection used it up) is not queued at all."""
    warmups = len(encoder.forward_sizes)
    with deadline_scope(0.0):
        time.sleep(0.001)
        with pytest.raises(EngineTimeoutError):
            engine.submit_items(["too late"])
    assert engine.stats().requests_submitted == 0
    assert len(encoder.forward_sizes) == warmups


def test_explicit_timeout_and_request_deadline_take_the_earlier(engine, encoder) -> None:
    """A generous explicit timeout does not outlive the request's shorter deadline."""
    encoder.gate.clear()
    with deadline_scope(0.1), pytest.raises(EngineTimeoutError):
        engine.encode(["x"], timeout=3600)
    encoder.gate.set()


def test_nested_scopes_never_extend_the_deadline() -> None:
    """An inner scope with a later deadline keeps the outer, earlier one."""
    assert current_deadline() is None and remaining() is None
    with deadline_scope(5.0) as outer, deadline_scope(500.0) as inner:
        assert inner == outer
        left = remaining()
        assert left is not None and left <= 5.0
    assert current_deadline() is None


def test_check_deadline_names_the_stage() -> None:
    """check_deadline raises a 504-coded error that names where the time ran out."""
    with deadline_scope(0.0):
        time.sleep(0.001)
        with pytest.raises(DeadlineExceededError) as caught:
            check_deadline("text detection")
    assert caught.value.code == "deadline_exceeded"
    assert "text detection" in caught.value.message
    check_deadline("outside any request")  # no deadline: never raises


def test_detection_does_not_start_after_the_deadline() -> None:
    """A request out of time screens no further input: detect() refuses with deadline_exceeded."""
    from appliance.detectors import detect
    from appliance.settings import EncoderSettings

    with deadline_scope(0.0):
        time.sleep(0.001)
        with pytest.raises(DeadlineExceededError) as caught:
            detect("text", "Patient John Smith, MRN 12345", settings=EncoderSettings())
    assert "detection" in caught.value.message
