"""Logging: JSON lines with context, and no content or raw subject ids in any line."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from appliance.domain.types import Modality
from appliance.encoders.base import Prepared
from appliance.engine import EncoderEngine
from appliance.errors import ApplianceError, InvalidInputError
from appliance.observability import configure_logging, get_logger, log_context
from appliance.settings import EncoderSettings
from tests.log_capture import capture_events

PSEUDONYM = "ps_" + "ab" * 16
NOTE = "Patient Jane Roe, MRN 88442211, DOB 03/14/1961, jane.roe@example.com"
SECRETS = ("Jane Roe", "88442211", "03/14/1961", "jane.roe@example.com")


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """configure_logging installs a root handler and a thread excepthook; put both back."""
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    threading.excepthook = hook


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, (leaked, text)


def test_content_keys_are_redacted() -> None:
    """Content-bearing fields never reach a log line."""
    with capture_events() as events:
        get_logger("t").info("ingest", text="Patient John Smith", metadata={"mrn": "1"}, count=3)
    (event,) = events.named("ingest")
    assert event["text"] == "[redacted]"
    assert event["metadata"] == "[redacted]"
    assert event["count"] == 3


def test_raw_subject_ids_are_dropped_but_pseudonyms_kept() -> None:
    """A subject field survives only when it is a pseudonym."""
    with capture_events() as events:
        get_logger("t").info("a", subject="MRN-12345")
        get_logger("t").info("b", subject=PSEUDONYM)
    assert events.named("a")[0]["subject"] == "[redacted]"
    assert events.named("b")[0]["subject"] == PSEUDONYM


def test_nested_mappings_and_bearer_tokens_are_scrubbed() -> None:
    """Nested content keys and bearer tokens inside strings are masked."""
    with capture_events() as events:
        get_logger("t").info("c", request={"body": "x", "path": "/v1"}, header="Bearer abc.def")
    (event,) = events.named("c")
    assert event["request"] == {"body": "[redacted]", "path": "/v1"}
    assert "abc.def" not in event["header"]


def test_json_output_carries_request_and_actor_context() -> None:
    """Rendered lines are JSON and include bound request and actor context."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    with log_context(request_id="r-1", actor="tok-9", role="ingest"):
        get_logger("t").info("stored", subject_id="MRN-1")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "r-1"
    assert line["actor"] == "tok-9"
    assert line["subject_id"] == "[redacted]"
    assert "MRN-1" not in stream.getvalue()


def test_level_filter_drops_debug() -> None:
    """At info level, debug events are not written."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    get_logger("t").debug("noise")
    assert stream.getvalue() == ""


def test_stdlib_records_become_redacted_json_lines() -> None:
    """A library's stdlib record with PHI in its arguments (Presidio's own pattern) and one
    with PHI baked into an f-string both come out as JSON lines without the PHI."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    logging.getLogger("presidio-analyzer").error("Failed to validate text %s", NOTE)
    logging.getLogger("uvicorn.error").warning(f"bad request from jane.roe@example.com: {NOTE}")
    lines = _json_lines(stream)
    assert [line["logger"] for line in lines] == ["presidio-analyzer", "uvicorn.error"]
    assert lines[0]["event"] == "Failed to validate text [redacted]"
    assert lines[0]["level"] == "error" and "timestamp" in lines[0]
    _assert_no_secret(stream.getvalue())


def test_library_console_handlers_are_adopted() -> None:
    """A library logger with its own stderr handler and propagation off (transformers,
    torch, spaCy do this) is routed through the root handler instead."""
    library = logging.getLogger("some_library_with_a_handler")
    library.addHandler(logging.StreamHandler())
    library.propagate = False
    stream = io.StringIO()
    try:
        configure_logging("info", "json", stream=stream)
        library.warning("model %s loaded", "x")
        assert library.propagate is True and not library.handlers
        (line,) = _json_lines(stream)
        assert line["logger"] == "some_library_with_a_handler"
    finally:
        library.handlers.clear()


def test_engine_thread_exception_does_not_leak_the_input() -> None:
    """An engine-style ``log.exception`` in a worker thread, for an error whose message holds
    the input text, is logged with type, code and frames but not the message."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    def worker() -> None:
        try:
            try:
                raise ValueError(f"cannot tokenize {NOTE!r}")
            except ValueError as exc:
                raise InvalidInputError(f"input rejected: {NOTE}") from exc
        except InvalidInputError:
            logging.getLogger("appliance.engine.running").exception("encoder %s: failed", "t")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    (line,) = _json_lines(stream)
    assert line["event"] == "encoder t: failed"
    assert line["error_type"] == "InvalidInputError[invalid_input]"
    assert "ValueError: [redacted]" in line["exception"]
    assert "in worker" in line["exception"]
    _assert_no_secret(stream.getvalue())


def test_uncaught_thread_exception_and_structlog_exc_info_are_redacted() -> None:
    """A thread that dies with input text in its exception, and a structlog event with
    ``exc_info`` or an exception value, log no message text."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    def crash() -> None:
        raise RuntimeError(NOTE)

    thread = threading.Thread(target=crash, name="prepare-0")
    thread.start()
    thread.join()
    try:
        raise KeyError(NOTE)
    except KeyError as exc:
        get_logger("t").error("api.unexpected", exc_info=True, error=exc)
        get_logger("t").error("api.failed", error=str(exc))
    lines = _json_lines(stream)
    assert [line["event"] for line in lines] == ["thread.crashed", "api.unexpected", "api.failed"]
    assert lines[0]["thread"] == "prepare-0" and lines[0]["error_type"] == "RuntimeError"
    assert lines[1]["error"].startswith("KeyError at ")
    _assert_no_secret(stream.getvalue())


class _LeakyEncoder:
    """An encoder whose forward pass fails quoting its input, as a tokenizer error might."""

    name = "leaky"
    modality = Modality.TEXT
    dimension = 4
    device = "cpu"
    semantic = False
    max_batch_size = 4

    def warmup_input(self) -> str:
        return "warm"

    def prepare(self, raw: bytes | str) -> Prepared:
        return Prepared(payload=raw.decode() if isinstance(raw, bytes) else raw)

    def collate(self, prepared: list[Prepared]) -> list[str]:
        return [p.payload for p in prepared]

    def forward(self, batch: list[str]) -> np.ndarray:
        if any("Patient" in text for text in batch):
            raise RuntimeError(f"cannot encode {batch!r}")
        return np.ones((len(batch), self.dimension), dtype=np.float32)

    def finish(self, output: np.ndarray) -> np.ndarray:
        return output


def test_real_engine_forward_failure_is_logged_without_the_input() -> None:
    """The engine's forward thread logs a failed batch (log.exception) as JSON through the
    root handler, with the error type and frames and none of the batch's text."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    engine = EncoderEngine(_LeakyEncoder(), EncoderSettings(warmup=False), prepare_workers=1)
    engine.start()
    try:
        with pytest.raises(ApplianceError):
            engine.encode([NOTE], timeout=30)
    finally:
        engine.close()
    failures = [line for line in _json_lines(stream) if "forward failed" in line["event"]]
    assert failures, stream.getvalue()
    assert failures[0]["logger"] == "appliance.engine.running"
    assert failures[0]["error_type"] == "RuntimeError"
    assert "RuntimeError: [redacted]" in failures[0]["exception"]
    _assert_no_secret(stream.getvalue())
