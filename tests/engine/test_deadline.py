"""Engine deadlines: a hung model cannot hold a caller; abandoned work is never run."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from appliance.engine import EngineTimeoutError
from appliance.engine.deadline import (
    Cancellation,
    RequestCancelledError,
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


def test_cancelled_waiter_wakes_at_once_and_its_item_is_never_forwarded(
    engine, encoder, wait_until
) -> None:
    """Cancelling the token frees the waiter long before its deadline; the model never runs it."""
    warmups = len(encoder.forward_sizes)
    encoder.gate.clear()
    blocker = engine.submit(["holds the forward thread"])
    assert encoder.entered.acquire(timeout=10)
    token, outcome = Cancellation(), {}

    def waiter() -> None:
        with deadline_scope(3600.0, token):
            try:
                engine.encode_items(["its client leaves"])
            except RequestCancelledError as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: engine.stats().requests_submitted == 2)
    token.cancel()
    thread.join(10)  # the model is still hung: only the cancellation can end this wait
    assert not thread.is_alive() and outcome["error"].code == "client_closed_request"
    encoder.gate.set()
    blocker.result(timeout=10)
    wait_until(lambda: engine.stats().in_flight_items == 0 and engine.stats().queue_depth == 0)
    assert len(encoder.forward_sizes) == warmups + 1, "the cancelled item went through the model"
    assert engine.stats().requests_cancelled == 1


def test_async_waiter_ends_on_cancellation(engine, encoder, wait_until) -> None:
    """encode_items_async under a cancelled token ends with client_closed_request, not a hang."""
    encoder.gate.clear()
    blocker = engine.submit(["holds the forward thread"])
    assert encoder.entered.acquire(timeout=10)
    token = Cancellation()

    async def wait_then_cancel() -> None:
        with deadline_scope(3600.0, token):
            waiting = asyncio.ensure_future(engine.encode_items_async(["its client leaves"]))
            await asyncio.sleep(0)
            threading.Thread(target=token.cancel).start()
            with pytest.raises(RequestCancelledError):
                await asyncio.wait_for(waiting, 10)

    asyncio.run(wait_then_cancel())
    encoder.gate.set()
    blocker.result(timeout=10)
    wait_until(lambda: engine.stats().in_flight_items == 0 and engine.stats().queue_depth == 0)
    assert engine.stats().requests_cancelled == 1


def test_cancelled_request_is_refused_before_queueing(engine) -> None:
    """Work of a request whose client has already gone is not queued at all."""
    token = Cancellation()
    token.cancel()
    with deadline_scope(None, token), pytest.raises(RequestCancelledError):
        engine.submit_items(["nobody waits for this"])
    assert engine.stats().requests_submitted == 0


def test_detection_does_not_start_after_the_client_left() -> None:
    """A cancelled request screens no further input: detect() refuses, as after the deadline."""
    from appliance.detectors import detect
    from appliance.settings import EncoderSettings

    token = Cancellation()
    with deadline_scope(3600.0, token):
        detect("text", "Patient John Smith", settings=EncoderSettings())  # still wanted
        token.cancel()
        with pytest.raises(DeadlineExceededError) as caught:
            detect("text", "Patient John Smith, MRN 12345", settings=EncoderSettings())
    assert caught.value.code == "client_closed_request" and "detection" in caught.value.message


def test_outer_cancellation_reaches_an_inner_scope() -> None:
    """A nested scope with its own token is cancelled with the enclosing request."""
    outer, inner = Cancellation(), Cancellation()
    with deadline_scope(None, outer), deadline_scope(None, inner):
        outer.cancel()
        with pytest.raises(RequestCancelledError):
            check_deadline("inner work")
    assert inner.cancelled
