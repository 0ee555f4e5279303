"""What travels through the engine: requests (split across batches), batches, results.

Only the engine's forward thread resolves a request, so ``_Request`` needs no lock of
its own; the batcher only advances ``cursor`` under the engine lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.engine.deadline import Cancellation, expired, is_cancelled
from appliance.errors import ApplianceError, InvalidInputError

Raw = bytes | str


@dataclass(frozen=True)
class ItemResults:
    """Per-item outcome of one request: a vector where it worked, an error where it did not.

    ``vectors`` has one row per input (zeros where the item failed); ``errors`` maps the
    failed inputs' positions to their errors; ``notes`` are the encoder's flags per item
    (for example ``{"truncated": True}``).
    """

    vectors: np.ndarray
    errors: dict[int, ApplianceError]
    notes: list[dict[str, Any]]

    @property
    def ok(self) -> list[bool]:
        """True for each input that has a vector."""
        return [i not in self.errors for i in range(len(self.notes))]


class Request:
    """One caller's inputs, answered as a whole (``partial`` False) or per item."""

    __slots__ = (
        "cancellation",
        "cursor",
        "deadline",
        "dropped",
        "enqueued_at",
        "errors",
        "future",
        "inputs",
        "notes",
        "partial",
        "remaining",
        "vectors",
    )

    def __init__(
        self,
        inputs: Sequence[Raw],
        partial: bool,
        enqueued_at: float,
        deadline: float | None = None,
        cancellation: Cancellation | None = None,
    ) -> None:
        self.inputs = inputs
        self.partial = partial
        self.enqueued_at = enqueued_at
        self.deadline = deadline
        """Absolute ``time.monotonic()`` after which nobody waits for the answer."""
        self.cancellation = cancellation
        """Set when the caller has gone (its HTTP client disconnected)."""
        self.dropped = False
        """Set once the engine dropped (some of) its items unrun because it was abandoned."""
        self.future: Future[Any] = Future()
        self.cursor = 0
        """Next input not yet taken into a batch."""
        self.remaining = len(inputs)
        """Inputs not yet answered."""
        self.vectors: np.ndarray | None = None
        self.errors: dict[int, ApplianceError] = {}
        self.notes: list[dict[str, Any]] = [{} for _ in inputs] if partial else []

    @property
    def abandoned(self) -> bool:
        """True when nobody waits any more: withdrawn, client gone, or past its deadline."""
        return self.future.cancelled() or is_cancelled(self.cancellation) or expired(self.deadline)

    @property
    def untaken(self) -> int:
        """Inputs still waiting in the queue."""
        return len(self.inputs) - self.cursor

    def set_row(self, index: int, row: np.ndarray, notes: dict[str, Any]) -> bool:
        """Store one vector; True when this answered the request."""
        if self.vectors is None:
            self.vectors = np.zeros((len(self.inputs), row.shape[0]), dtype=np.float32)
        self.vectors[index] = row
        if self.partial and notes:
            self.notes[index] = dict(notes)
        return self._one_done()

    def set_error(self, index: int, error: ApplianceError) -> bool:
        """Record one item's failure; True when this answered the request."""
        self.errors[index] = error
        return self._one_done()

    def _one_done(self) -> bool:
        self.remaining -= 1
        return self.remaining == 0

    def resolve(self, dimension: int) -> bool:
        """Complete the future; True when it completed without error."""
        vectors = self.vectors
        if vectors is None:
            vectors = np.zeros((len(self.inputs), dimension), dtype=np.float32)
        if self.partial:
            self.future.set_result(ItemResults(vectors, dict(self.errors), self.notes))
            return True
        if not self.errors:
            self.future.set_result(vectors)
            return True
        index = min(self.errors)
        self.future.set_exception(_with_index(self.errors[index], index, len(self.inputs)))
        return False


def _with_index(error: ApplianceError, index: int, count: int) -> ApplianceError:
    """Name the failing input when the request had several."""
    if count == 1 or not isinstance(error, InvalidInputError):
        return error
    named = InvalidInputError(
        f"input {index}: {error.message}", remedy=error.remedy, code=error.code
    )
    named.__cause__ = error
    return named


@dataclass
class Batch:
    """Items taken together: prepared and collated on the batcher, run on the forward thread."""

    valid: list[tuple[Request, int, dict[str, Any]]] = field(default_factory=list)
    """(request, input position, notes) in collated order."""
    failed: list[tuple[Request, int, ApplianceError]] = field(default_factory=list)
    payload: Any = None
    error: ApplianceError | None = None
    """Set when collation failed: every valid item gets it."""
    queue_wait_s: float = 0.0
    prepare_s: float = 0.0

    @property
    def size(self) -> int:
        """Items in the batch, failed ones included."""
        return len(self.valid) + len(self.failed)
