"""Blocking and asyncio front-ends over the engine's futures (``encode``, ``encode_async``).

Every wait is bounded by the earlier of the caller's ``timeout`` and the request's
deadline (``appliance.engine.deadline``); when it passes the caller gets
``EngineTimeoutError`` (HTTP 504 ``deadline_exceeded``) and the engine drops the
request's items that have not been run yet. A wait also ends as soon as the request's
cancellation token is set (its client disconnected), with ``RequestCancelledError``;
the engine drops those items the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from appliance.engine.deadline import (
    RequestCancelledError,
    current_cancellation,
    current_deadline,
    earliest,
)
from appliance.engine.errors import EngineTimeoutError
from appliance.engine.requests import ItemResults, Raw

T = TypeVar("T")


def _deadline(timeout: float | None) -> float | None:
    own = None if timeout is None else time.monotonic() + timeout
    return earliest(own, current_deadline())


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class EngineWaitMixin:
    """``encode*`` methods for a class that provides ``submit``/``submit_items`` and ``name``."""

    if TYPE_CHECKING:
        name: str

        def submit(
            self, inputs: Sequence[Raw], *, deadline: float | None = None
        ) -> Future[np.ndarray]: ...

        def submit_items(
            self, inputs: Sequence[Raw], *, deadline: float | None = None
        ) -> Future[ItemResults]: ...

    def encode(self, inputs: Sequence[Raw], *, timeout: float | None = None) -> np.ndarray:
        """Embed ``inputs`` and wait: ``(n, dimension)`` float32, L2-normalised rows.

        Raises ``EngineBusyError`` at once when the queue is full, ``EngineTimeoutError``
        after ``timeout`` seconds or at the request's deadline, whichever comes first (the
        request is withdrawn if it has not run).
        """
        deadline = _deadline(timeout)
        return self._wait(self.submit(inputs, deadline=deadline), deadline, timeout)

    def encode_items(self, inputs: Sequence[Raw], *, timeout: float | None = None) -> ItemResults:
        """Embed ``inputs`` and wait, per item: bad inputs fail alone."""
        deadline = _deadline(timeout)
        return self._wait(self.submit_items(inputs, deadline=deadline), deadline, timeout)

    async def encode_async(
        self, inputs: Sequence[Raw], *, timeout: float | None = None
    ) -> np.ndarray:
        """``encode`` for asyncio: the event loop is never blocked; busy is raised at once."""
        deadline = _deadline(timeout)
        return await self._wait_async(self.submit(inputs, deadline=deadline), deadline, timeout)

    async def encode_items_async(
        self, inputs: Sequence[Raw], *, timeout: float | None = None
    ) -> ItemResults:
        """``encode_items`` for asyncio."""
        deadline = _deadline(timeout)
        future = self.submit_items(inputs, deadline=deadline)
        return await self._wait_async(future, deadline, timeout)

    def _wait(self, future: Future[T], deadline: float | None, timeout: float | None) -> T:
        cancellation = current_cancellation()
        if cancellation is not None:  # wake on the answer, the deadline or the client leaving
            woken = threading.Event()
            future.add_done_callback(lambda _: woken.set())
            unregister = cancellation.on_cancel(woken.set)
            try:
                woken.wait(_left(deadline))
            finally:
                unregister()
            if not future.done() and cancellation.cancelled:
                future.cancel()  # withdraws it if not started; else the engine drops its items
                raise RequestCancelledError(f"the wait for encoder {self.name!r}")
        try:
            return future.result(_left(deadline))
        except TimeoutError as exc:
            if future.done() and not future.cancelled() and future.exception() is exc:
                raise
            future.cancel()
            raise EngineTimeoutError(self.name, timeout) from exc

    async def _wait_async(
        self, future: Future[T], deadline: float | None, timeout: float | None
    ) -> T:
        wrapped = asyncio.wrap_future(future)
        left = _left(deadline)
        cancellation = current_cancellation()
        if cancellation is None:
            if left is None:
                return await wrapped  # cancelling the task withdraws a request not yet started
            try:
                return await asyncio.wait_for(wrapped, left)
            except TimeoutError as exc:
                raise EngineTimeoutError(self.name, timeout) from exc
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()

        def mark_gone() -> None:
            if not gone.done():
                gone.set_result(None)

        def wake() -> None:  # runs on the cancelling thread
            with contextlib.suppress(RuntimeError):  # the loop already closed: nobody waits
                loop.call_soon_threadsafe(mark_gone)

        unregister = cancellation.on_cancel(wake)
        try:
            await asyncio.wait({wrapped, gone}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            wrapped.cancel()  # the caller's task was cancelled: withdraw the request too
            raise
        finally:
            unregister()
            gone.cancel()
        if wrapped.done():
            return wrapped.result()
        wrapped.cancel()  # withdraws the request if it has not started
        if cancellation.cancelled:
            raise RequestCancelledError(f"the wait for encoder {self.name!r}")
        raise EngineTimeoutError(self.name, timeout)
