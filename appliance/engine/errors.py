"""Errors the serving engine raises; the API maps their ``code`` to an HTTP status."""

from __future__ import annotations

from appliance.errors import ApplianceError, DeadlineExceededError


class EngineBusyError(ApplianceError):
    """The encoder's queue is full: refused at once, nothing was queued.

    ``retry_after_s`` (whole seconds, at least 1) estimates when the queue will have room;
    the API sends it as ``Retry-After`` with a 429.
    """

    code = "busy"

    def __init__(self, encoder: str, queued: int, capacity: int, retry_after_s: int) -> None:
        super().__init__(
            f"encoder {encoder!r} is busy: {queued} of {capacity} queue places taken",
            remedy=f"retry after {retry_after_s} s, or send fewer inputs per request",
        )
        self.retry_after_s = retry_after_s
        self.queued = queued
        self.capacity = capacity


class EngineClosedError(ApplianceError):
    """The engine is not running (not started yet, shutting down, or stopped)."""

    code = "unavailable"

    def __init__(self, encoder: str, state: str) -> None:
        super().__init__(
            f"encoder {encoder!r} is {state}",
            remedy="wait until the service reports ready (GET /readyz), then retry",
        )


class EngineFailedError(ApplianceError):
    """The model failed on a batch (not the input's fault); every request in it gets this."""

    code = "encoder_failed"

    def __init__(self, encoder: str, stage: str, cause: BaseException) -> None:
        super().__init__(
            f"encoder {encoder!r} failed in {stage}: {type(cause).__name__}",
            remedy="retry; if it persists, check the service log and the device (GPU memory)",
        )


class EngineTimeoutError(DeadlineExceededError):
    """The caller's deadline passed before the embedding was ready (HTTP 504).

    Items of such a request that are still queued are dropped before their forward pass.
    """

    code = "deadline_exceeded"

    def __init__(self, encoder: str, timeout_s: float | None = None) -> None:
        within = f" within {timeout_s:g} s" if timeout_s is not None else " before the deadline"
        super().__init__(
            f"encoder {encoder!r} did not answer{within}",
            remedy="retry later or with a longer timeout; the appliance may be overloaded",
        )
