"""Structured logging: structlog JSON with request and actor context, and PHI redaction.

The redaction processor runs on every event before rendering: content-bearing keys are
replaced, raw subject ids are dropped, and any string that looks like a bearer token is
masked. Code logs pseudonyms (``subject=ps_...``), never raw ids.

Standard-library records (the encoder engine's threads, uvicorn,
transformers, torch) go through the same processors: a ``ProcessorFormatter`` on the root
logger renders each as a JSON line, and libraries' own stderr handlers are taken off so they
propagate to it. A library's message keeps its format string but not its arguments (they
are where input text ends up: ``"Failed to validate text %s"``), and PHI-looking runs
(e-mails, long numbers, dates, phone numbers, identifiers, capitalised name pairs) are
masked in what remains, for messages a library built with an f-string.
Exceptions are logged as their type, the stable code of an ``ApplianceError`` and the
traceback's frames; their messages, which can quote the input, are never written.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from appliance.domain.types import is_pseudonym
from appliance.errors import ApplianceError

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
_ERROR_KEYS = frozenset({"error", "reason", "detail"})
_OWN_LOGGER = "appliance"
_PHI_LOOKING = re.compile(
    r"""(?x)
      [\w.+-]+@[\w-]+(?:\.[\w-]+)+                    # e-mail address
    | \bapl_\w+                                       # an API token
    | \b\d{3}-\d{2}-\d{4}\b                            # SSN
    | \b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b               # date
    | (?:\+?\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b  # phone number
    | \b[A-Za-z]{1,6}[-_:#]?\d{4,}\w*                  # MRN-like identifier
    | \d{6,}                                          # long number (MRN, account)
    """
)
# In a library's own message (an f-string can carry input): capitalised word pairs, "Jane Roe".
_NAME_LIKE = re.compile(r"\b[A-Z][a-z]+(?:[ \t]+[A-Z][a-z'-]+)+\b")


def redact_sensitive(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Keep content and raw subject ids out of the log line (a structlog processor)."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in CONTENT_KEYS or (key in _SUBJECT_KEYS and not _all_pseudonyms(value)):
            event_dict[key] = REDACTED
        elif isinstance(value, BaseException):
            event_dict[key] = exception_summary(value)
        elif key in _ERROR_KEYS and isinstance(value, str):
            event_dict[key] = _NAME_LIKE.sub(REDACTED, scrub_text(value))
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


def scrub_text(text: str) -> str:
    """Mask bearer tokens and PHI-looking runs in free text (a library's log message)."""
    return _PHI_LOOKING.sub(REDACTED, _BEARER.sub("Bearer " + REDACTED, text))


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


def _exception_name(exc: BaseException) -> str:
    name = type(exc).__name__
    return f"{name}[{exc.code}]" if isinstance(exc, ApplianceError) else name


def exception_summary(exc: BaseException) -> str:
    """Type (and stable code) of an exception and where it was raised; never its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{_exception_name(exc)}{where}"


def safe_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` and its causes, each message replaced by ``[redacted]``."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "direct cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "context"
        else:
            current = None
    lines: list[str] = []
    for error, following in reversed(chain):
        lines.append("Traceback (most recent call last):")
        lines += [
            line.rstrip("\n")
            for line in traceback.format_list(traceback.extract_tb(error.__traceback__))
        ]
        lines.append(f"{_exception_name(error)}: {REDACTED}")
        if following == "direct cause":
            lines.append("The above exception was the direct cause of the following exception:")
        elif following == "context":
            lines.append("During handling of the above exception, another exception occurred:")
    return "\n".join(lines)


def redact_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Render ``exc_info`` as type, code and frames without the message (replaces
    structlog's ``format_exc_info``, which would write ``str(exception)``)."""
    exc = _exception_of(event_dict.pop("exc_info", None))
    if exc is not None:
        event_dict["exception"] = safe_traceback(exc)
        event_dict.setdefault("error_type", _exception_name(exc))
    event_dict.pop("stack_info", None)
    return event_dict


def _render_foreign_message(record: logging.LogRecord, args: Any) -> str:
    template = record.msg if isinstance(record.msg, str) else REDACTED
    own = record.name == _OWN_LOGGER or record.name.startswith(_OWN_LOGGER + ".")
    if not own:
        args = _keep_numbers(args)
    try:
        message = template % args if args else template
    except (TypeError, ValueError, KeyError):
        message = template
    message = scrub_text(message)
    return message if own else _NAME_LIKE.sub(REDACTED, message)


def _keep_numbers(args: Any) -> Any:
    def safe(value: Any) -> Any:
        return value if isinstance(value, int | float) else REDACTED

    if isinstance(args, Mapping):
        return {key: safe(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(safe(value) for value in args)
    return safe(args)


def foreign_record(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A standard-library record as an event: logger name and a scrubbed message."""
    args = event_dict.pop("positional_args", ())
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord) and not event_dict.get("_from_structlog"):
        event_dict["event"] = _render_foreign_message(record, args)
        event_dict["logger"] = record.name
    return event_dict


def shared_processors() -> list[Processor]:
    """Processors every configuration uses, redaction last before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_exception,
        redact_sensitive,
    ]


class _RootHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The appliance's handler on the root logger; writes to the current ``sys.stderr``
    unless given a stream (so a replaced stderr, e.g. under a test runner, is followed)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or sys.stderr
        super().emit(record)


def adopt_library_loggers() -> int:
    """Take libraries' own console handlers off (transformers, torch, spaCy add one and
    stop propagation) so their records reach the root handler; how many were taken off."""
    removed = 0
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        console = [h for h in logger.handlers if type(h) is logging.StreamHandler]
        for handler in console:
            logger.removeHandler(handler)
        if console:
            logger.propagate = True
            removed += len(console)
    return removed


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    get_logger("appliance.threads").error(
        "thread.crashed",
        thread=args.thread.name if args.thread else "",
        exc_info=args.exc_value,
    )


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Configure logging for the process: JSON lines (default) or console, to stderr.

    structlog events and standard-library records (through the root logger) share the
    processors, so both are redacted the same way; a crashing thread is logged the same way.
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _RootHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[foreign_record, *shared_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            pass_foreign_args=True,
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RootHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    adopt_library_loggers()
    threading.excepthook = _log_thread_crash


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
