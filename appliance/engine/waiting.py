"""Blocking and asyncio front-ends over the engine's futures (``encode``, ``encode_async``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from appliance.engine.errors import EngineTimeoutError
from appliance.engine.requests import ItemResults, Raw

T = TypeVar("T")


class EngineWaitMixin:
    """``encode*`` methods for a class that provides ``submit``/``submit_items`` and ``name``."""

    if TYPE_CHECKING:
        name: str

        def submit(self, inputs: Sequence[Raw]) -> Future[np.ndarray]: ...

        def submit_items(self, inputs: Sequence[Raw]) -> Future[ItemResults]: ...

    def encode(self, inputs: Sequence[Raw], *, timeout: float | None = None) -> np.ndarray:
        """Embed ``inputs`` and wait: ``(n, dimension)`` float32, L2-normalised rows.

        Raises ``EngineBusyError`` at once when the queue is full, ``EngineTimeoutError``
        after ``timeout`` seconds (the request is withdrawn if it has not started).
        """
        return self._wait(self.submit(inputs), timeout)

    def encode_items(self, inputs: Sequence[Raw], *, timeout: float | None = None) -> ItemResults:
        """Embed ``inputs`` and wait, per item: bad inputs fail alone."""
        return self._wait(self.submit_items(inputs), timeout)

    async def encode_async(
        self, inputs: Sequence[Raw], *, timeout: float | None = None
    ) -> np.ndarray:
        """``encode`` for asyncio: the event loop is never blocked; busy is raised at once."""
        return await self._wait_async(self.submit(inputs), timeout)

    async def encode_items_async(
        self, inputs: Sequence[Raw], *, timeout: float | None = None
    ) -> ItemResults:
        """``encode_items`` for asyncio."""
        return await self._wait_async(self.submit_items(inputs), timeout)

    def _wait(self, future: Future[T], timeout: float | None) -> T:
        try:
            return future.result(timeout)
        except TimeoutError as exc:
            if future.done() and not future.cancelled() and future.exception() is exc:
                raise
            future.cancel()
            raise EngineTimeoutError(self.name, timeout or 0.0) from exc

    async def _wait_async(self, future: Future[T], timeout: float | None) -> T:
        wrapped = asyncio.wrap_future(future)
        if timeout is None:
            return await wrapped  # cancelling the task withdraws a request not yet started
        try:
            return await asyncio.wait_for(wrapped, timeout)
        except TimeoutError as exc:
            raise EngineTimeoutError(self.name, timeout) from exc
