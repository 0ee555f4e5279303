"""Helpers for tests: capture structured log events as they would be written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from appliance.observability import shared_processors


class CapturedEvents(list[dict[str, Any]]):
    """The events a block logged, after every processor (redaction included) ran."""

    def named(self, event: str) -> list[dict[str, Any]]:
        """The events whose ``event`` field equals ``event``."""
        return [e for e in self if e.get("event") == event]


@contextmanager
def capture_events() -> Iterator[CapturedEvents]:
    """Capture log events through the real processor chain, without rendering them."""
    captured = CapturedEvents()

    def sink(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        captured.append(dict(event_dict))
        raise structlog.DropEvent

    previous = structlog.get_config()
    structlog.configure(
        processors=[*shared_processors(), sink],
        wrapper_class=structlog.make_filtering_bound_logger(0),
        cache_logger_on_first_use=False,
    )
    try:
        yield captured
    finally:
        structlog.configure(**previous)
