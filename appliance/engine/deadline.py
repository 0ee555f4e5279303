"""The request deadline: one absolute time per request, visible to every layer below it.

The HTTP layer opens a ``deadline_scope`` per request; the engine bounds every wait by
what is left (``remaining``), refuses to queue work whose deadline has passed, and drops
queued items of expired requests before their forward pass. Long CPU stages (detection)
call ``check_deadline`` between steps. Outside a scope there is no deadline.

A ``contextvars.ContextVar`` carries it, so it follows the request into the worker
thread that runs a synchronous handler (anyio copies the context).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from appliance.errors import DeadlineExceededError

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "appliance_deadline", default=None
)


@contextmanager
def deadline_scope(seconds: float | None) -> Iterator[float | None]:
    """Run the block under a deadline ``seconds`` from now (``None``: no deadline).

    A scope inside another never extends it: the earlier deadline wins.
    """
    outer = _DEADLINE.get()
    mine = None if seconds is None else time.monotonic() + seconds
    effective = mine if outer is None else (outer if mine is None else min(outer, mine))
    token = _DEADLINE.set(effective)
    try:
        yield effective
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The absolute ``time.monotonic()`` deadline of the running request, if any."""
    return _DEADLINE.get()


def remaining() -> float | None:
    """Seconds left before the deadline (never negative); ``None`` without a deadline."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def expired(deadline: float | None) -> bool:
    """True when ``deadline`` (absolute monotonic) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def earliest(*deadlines: float | None) -> float | None:
    """The soonest of the given absolute deadlines (``None`` entries mean none)."""
    known = [d for d in deadlines if d is not None]
    return min(known) if known else None


def check_deadline(stage: str) -> None:
    """Raise ``DeadlineExceededError`` naming ``stage`` if the deadline has passed."""
    if expired(_DEADLINE.get()):
        raise DeadlineExceededError(
            f"the request's deadline passed during {stage}; its work was stopped",
            remedy="send smaller inputs or fewer per request, or retry when the appliance "
            "is less loaded (limits.request_deadline_s sets the deadline)",
        )
