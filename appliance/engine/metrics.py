"""Counters the engine keeps, readable at any time (a Prometheus exporter polls ``snapshot``).

The engine updates them from its own threads under its lock; ``snapshot`` copies them.
``BatchEvent`` goes to an optional per-batch hook (histograms, tracing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class BatchEvent:
    """One batch the engine ran: sizes and where its time went (seconds)."""

    encoder: str
    size: int
    """Items in the batch, failed ones included."""
    failed_items: int
    queue_wait_s: float
    """How long the batch's oldest item waited in the queue."""
    prepare_s: float
    """Per-item ``prepare`` plus ``collate``, on the batcher thread and its pool."""
    forward_s: float
    """``forward`` plus ``finish``, on the forward thread."""


BatchHook = Callable[[BatchEvent], None]


@dataclass(frozen=True)
class EngineStats:
    """A consistent copy of one engine's counters."""

    encoder: str
    modality: str
    state: str
    ready: bool
    queue_depth: int
    """Items waiting, not yet in a batch."""
    queue_capacity: int
    in_flight_items: int
    """Items taken into a batch and not yet answered."""
    requests_submitted: int
    requests_rejected: int
    requests_completed: int
    requests_failed: int
    requests_cancelled: int
    items_completed: int
    items_failed: int
    batches: int
    batch_sizes: dict[int, int]
    """Histogram: batch size -> number of batches of that size."""
    max_queue_depth: int
    prepare_seconds_total: float
    forward_seconds_total: float

    @property
    def mean_batch_size(self) -> float:
        """Average items per batch (0 before the first batch)."""
        total = sum(size * count for size, count in self.batch_sizes.items())
        return total / self.batches if self.batches else 0.0


@dataclass
class EngineCounters:
    """Mutable counters; the engine holds its lock while changing them."""

    requests_submitted: int = 0
    requests_rejected: int = 0
    requests_completed: int = 0
    requests_failed: int = 0
    requests_cancelled: int = 0
    items_completed: int = 0
    items_failed: int = 0
    batches: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    max_queue_depth: int = 0
    prepare_seconds_total: float = 0.0
    forward_seconds_total: float = 0.0

    def record_batch(
        self, size: int, failed_items: int, outcomes: list[bool], prepare_s: float, forward_s: float
    ) -> None:
        """Count one finished batch and the requests it completed (True: succeeded)."""
        self.batches += 1
        self.batch_sizes[size] += 1
        self.items_failed += failed_items
        self.items_completed += size - failed_items
        self.requests_completed += sum(outcomes)
        self.requests_failed += len(outcomes) - sum(outcomes)
        self.prepare_seconds_total += prepare_s
        self.forward_seconds_total += forward_s

    def snapshot(
        self,
        *,
        encoder: str,
        modality: str,
        state: str,
        ready: bool,
        queue_depth: int,
        queue_capacity: int,
        in_flight_items: int,
    ) -> EngineStats:
        """Copy the counters together with the engine's live gauges."""
        values = asdict(self)
        values["batch_sizes"] = dict(self.batch_sizes)
        return EngineStats(
            encoder=encoder,
            modality=modality,
            state=state,
            ready=ready,
            queue_depth=queue_depth,
            queue_capacity=queue_capacity,
            in_flight_items=in_flight_items,
            **values,
        )
