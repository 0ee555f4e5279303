"""The request deadline and cancellation: visible to every layer below the HTTP layer.

The HTTP layer opens a ``deadline_scope`` per request, with a ``Cancellation`` token that
its middleware sets when the client disconnects. The engine bounds every wait by what is
left (``remaining``), wakes a waiter whose request was cancelled, refuses to queue work
whose deadline has passed or whose client has gone, and drops queued items of such
requests before prepare and before their forward pass. Long CPU stages (detection) call
``check_deadline`` between steps. Outside a scope there is no deadline and no token.

Two ``contextvars.ContextVar`` objects carry them, so both follow the request into the
worker thread that runs a synchronous handler (anyio copies the context).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from appliance.errors import DeadlineExceededError

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "appliance_deadline", default=None
)


class RequestCancelledError(DeadlineExceededError):
    """The client went away before its request finished; unfinished work was dropped.

    Treated everywhere like a passed deadline; the API answers it with 499 (which the
    departed client never reads, but logs and metrics do).
    """

    code = "client_closed_request"

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"the client closed its connection during {stage}; its work was stopped",
            remedy="keep the connection open until the answer arrives",
        )


class Cancellation:
    """A request's cancellation token: set once, from any thread, when its client has gone."""

    __slots__ = ("_callbacks", "_event", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Mark the request cancelled and run the registered callbacks (once)."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when cancelled (at once if already); returns its remover.

        Callbacks run on the cancelling thread: they must be quick and thread-safe.
        """
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


_CANCELLATION: contextvars.ContextVar[Cancellation | None] = contextvars.ContextVar(
    "appliance_cancellation", default=None
)


@contextmanager
def deadline_scope(
    seconds: float | None, cancellation: Cancellation | None = None
) -> Iterator[float | None]:
    """Run the block under a deadline ``seconds`` from now (``None``: no deadline).

    A scope inside another never extends it: the earlier deadline wins. ``cancellation``
    (default: the enclosing scope's) is the token the block's work watches; an enclosing
    scope's cancellation also cancels it.
    """
    outer = _DEADLINE.get()
    mine = None if seconds is None else time.monotonic() + seconds
    effective = mine if outer is None else (outer if mine is None else min(outer, mine))
    outer_token = _CANCELLATION.get()
    token = cancellation or outer_token
    unlink = (
        outer_token.on_cancel(token.cancel)
        if token is not None and outer_token is not None and token is not outer_token
        else None
    )
    reset_deadline = _DEADLINE.set(effective)
    reset_token = _CANCELLATION.set(token)
    try:
        yield effective
    finally:
        _CANCELLATION.reset(reset_token)
        _DEADLINE.reset(reset_deadline)
        if unlink is not None:
            unlink()


def current_deadline() -> float | None:
    """The absolute ``time.monotonic()`` deadline of the running request, if any."""
    return _DEADLINE.get()


def current_cancellation() -> Cancellation | None:
    """The running request's cancellation token, if any."""
    return _CANCELLATION.get()


def remaining() -> float | None:
    """Seconds left before the deadline (never negative); ``None`` without a deadline."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def expired(deadline: float | None) -> bool:
    """True when ``deadline`` (absolute monotonic) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def is_cancelled(cancellation: Cancellation | None) -> bool:
    """True when ``cancellation`` is a token that was cancelled."""
    return cancellation is not None and cancellation.cancelled


def earliest(*deadlines: float | None) -> float | None:
    """The soonest of the given absolute deadlines (``None`` entries mean none)."""
    known = [d for d in deadlines if d is not None]
    return min(known) if known else None


def check_deadline(stage: str) -> None:
    """Raise if the running request is out of time or its client has gone.

    ``RequestCancelledError`` (a ``DeadlineExceededError``) when it was cancelled,
    ``DeadlineExceededError`` when its deadline passed; both name ``stage``.
    """
    if is_cancelled(_CANCELLATION.get()):
        raise RequestCancelledError(stage)
    if expired(_DEADLINE.get()):
        raise DeadlineExceededError(
            f"the request's deadline passed during {stage}; its work was stopped",
            remedy="send smaller inputs or fewer per request, or retry when the appliance "
            "is less loaded (limits.request_deadline_s sets the deadline)",
        )
