"""Structured logging: structlog JSON with request and actor context, and PHI redaction.

The redaction processor runs on every event before rendering: content-bearing keys are
replaced, raw subject ids are dropped, and any string that looks like a bearer token is
masked. Code logs pseudonyms (``subject=ps_...``), never raw ids.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from appliance.domain.types import is_pseudonym

REDACTED = "[redacted]"
CONTENT_KEYS = frozenset(
    {
        "content",
        "text",
        "data",
        "raw",
        "body",
        "input",
        "inputs",
        "query",
        "metadata",
        "vector",
        "vectors",
        "embedding",
        "subject_id",
        "mrn",
        "name",
        "patient",
    }
)
_SUBJECT_KEYS = frozenset({"subject", "subjects"})
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")


def redact_sensitive(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Keep content and raw subject ids out of the log line (a structlog processor)."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in CONTENT_KEYS or (key in _SUBJECT_KEYS and not _all_pseudonyms(value)):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and _BEARER.search(value):
            event_dict[key] = _BEARER.sub("Bearer " + REDACTED, value)
        elif isinstance(value, MutableMapping):
            event_dict[key] = _redact_mapping(value)
    return event_dict


def _redact_mapping(mapping: MutableMapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in CONTENT_KEYS or (key in _SUBJECT_KEYS and not _all_pseudonyms(value)):
            out[key] = REDACTED
        elif isinstance(value, MutableMapping):
            out[key] = _redact_mapping(value)
        else:
            out[key] = value
    return out


def _all_pseudonyms(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list | tuple | set):
        return all(is_pseudonym(v) for v in value)
    return is_pseudonym(value)


def shared_processors() -> list[Processor]:
    """Processors every configuration uses, redaction last before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_sensitive,
    ]


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Configure structlog for the process: JSON lines (default) or console, to stderr."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind request/actor context (request_id, actor, role) for the duration of a block."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger for a module."""
    return structlog.get_logger(name)
