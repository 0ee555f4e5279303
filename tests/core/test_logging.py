"""Logging: JSON lines with context, and no content or raw subject ids in any line."""

from __future__ import annotations

import io
import json

from appliance.observability import configure_logging, get_logger, log_context
from appliance.testing import capture_events

PSEUDONYM = "ps_" + "ab" * 16


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
