"""One serving worker per encoder: bounded queue, dynamic batching, overlapped pre-processing.

Pipeline (two threads plus a small CPU pool)::

    submit() --> bounded queue --> batcher thread ----------> slot (1 batch) --> forward thread
                 (busy at once     takes <= max batch;         double buffer     forward + finish,
                  when full)       prepare() per item on                         split results
                                   the pool; collate()                           back per request

The batcher closes a batch when it is full, when the forward thread is idle (so a lone
request is not held back), or ``max_wait_ms`` after its first item arrived; while the
slot is occupied it keeps filling. Batch N+1 is prepared while batch N runs. No torch
here: the engine only calls the encoder's methods (the encoder applies
``torch.inference_mode``, the device and the precision).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from appliance.encoders.base import Encoder
from appliance.engine.deadline import (
    RequestCancelledError,
    current_cancellation,
    current_deadline,
    earliest,
    expired,
    is_cancelled,
)
from appliance.engine.errors import (
    EngineBusyError,
    EngineClosedError,
    EngineFailedError,
    EngineTimeoutError,
)
from appliance.engine.metrics import BatchEvent, BatchHook, EngineCounters, EngineStats
from appliance.engine.preparing import BatchPreparer, Taken, default_prepare_workers
from appliance.engine.requests import Batch, ItemResults, Raw, Request
from appliance.engine.running import run_batch, run_warmup, warmup_sample
from appliance.engine.waiting import EngineWaitMixin
from appliance.errors import ApplianceError, InvalidInputError
from appliance.settings import EncoderSettings

log = logging.getLogger(__name__)

_NEW, _STARTING, _RUNNING, _CLOSING, _CLOSED, _FAILED = (
    "new", "starting", "running", "closing", "closed", "failed"
)  # fmt: skip


class EncoderEngine(EngineWaitMixin):
    """Serves one encoder to many concurrent callers; thread-safe, asyncio-friendly.

    ``submit``/``submit_items`` return futures at once or raise ``EngineBusyError`` when
    the queue (``settings.queue_size`` items) is full; ``encode``/``encode_async`` wait.
    Warm-up (``settings.warmup``) uses ``warmup_input``, else the encoder's own
    ``warmup_input()`` if it has one, for each size in ``warmup_sizes`` (default 1 and
    the max batch size).
    """

    def __init__(
        self,
        encoder: Encoder,
        settings: EncoderSettings | None = None,
        *,
        prepare_workers: int | None = None,
        warmup_input: Raw | None = None,
        warmup_sizes: Sequence[int] | None = None,
        on_batch: BatchHook | None = None,
    ) -> None:
        settings = settings or EncoderSettings()
        self.encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.max_batch_size = max(1, min(settings.max_batch_size, encoder.max_batch_size))
        self.max_wait_s = settings.max_wait_ms / 1000.0
        self.capacity = settings.queue_size
        self._warmup = settings.warmup
        self._warmup_input = warmup_input
        self._warmup_sizes = sorted(set(warmup_sizes or (1, self.max_batch_size)))
        self._on_batch = on_batch
        workers = (
            default_prepare_workers(encoder.device) if prepare_workers is None else prepare_workers
        )
        self._preparer = BatchPreparer(encoder, workers)
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # batcher waits: items, slot, idle, close
        self._batch_ready = threading.Condition(self._lock)  # forward thread waits: slot
        self._pending: deque[Request] = deque()
        self._queued = 0
        self._in_flight = 0
        self._slot: Batch | None = None
        self._forward_busy = True  # until warm-up is done
        self._batcher_done = False
        self._state = _NEW
        self._failure: ApplianceError | None = None
        self._discard: ApplianceError | None = None  # set: queued items fail with it
        self._started = threading.Event()
        self._item_seconds = 0.05  # running estimate for Retry-After
        self._counters = EngineCounters()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float | None = None) -> EncoderEngine:
        """Start the threads; warm-up runs first on the forward thread.

        Requests submitted during warm-up queue up. With ``wait`` this blocks until the
        engine is ready and raises the warm-up error if the model failed.
        """
        with self._lock:
            if self._state != _NEW:
                raise EngineClosedError(self.name, f"already {self._state}")
            self._state = _STARTING
        self._preparer.start()
        for role, target in (("batcher", self._batcher_loop), ("forward", self._forward_loop)):
            thread = threading.Thread(target=target, name=f"engine-{self.name}-{role}", daemon=True)
            self._threads.append(thread)
            thread.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until warm-up finished; raise its error if it failed."""
        if not self._started.wait(timeout):
            raise EngineClosedError(self.name, "still warming up")
        if self._failure is not None:
            raise self._failure

    @property
    def state(self) -> str:
        """new, starting (warming up), running, closing, closed or failed."""
        return self._state

    @property
    def ready(self) -> bool:
        """True once warm-up is done and until shutdown begins (for /readyz)."""
        return self._state == _RUNNING

    def close(self, *, drain: bool = True, timeout: float | None = 30.0) -> None:
        """Stop accepting; answer what is queued (``drain``) or fail it; join the threads."""
        with self._lock:
            if self._state in (_CLOSED, _NEW):
                self._state = _CLOSED
                return
            if self._state != _FAILED:
                self._state = _CLOSING
            if not drain and self._discard is None:
                self._discard = EngineClosedError(self.name, "shutting down")
            self._work.notify_all()
            self._batch_ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._preparer.shutdown()
        with self._lock:
            if self._state != _FAILED:
                self._state = _CLOSED

    def __enter__(self) -> EncoderEngine:
        if self._state == _NEW:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submitting ----------------------------------------------------------------------

    def submit(self, inputs: Sequence[Raw], *, deadline: float | None = None) -> Future[np.ndarray]:
        """Queue ``inputs``; the future gives a float32 ``(n, dimension)`` array, L2-normalised.

        One bad input fails the whole future with ``InvalidInputError`` naming its position.
        Raises ``EngineBusyError`` at once when the queue has no room. ``deadline``
        (absolute ``time.monotonic()``, default: the request's, see ``engine.deadline``):
        items still queued after it are dropped unrun and the future fails with
        ``EngineTimeoutError``; so are they once the request's cancellation token (see
        ``engine.deadline``) is set.
        """
        return self._enqueue(inputs, partial=False, deadline=deadline)

    def submit_items(
        self, inputs: Sequence[Raw], *, deadline: float | None = None
    ) -> Future[ItemResults]:
        """Like ``submit`` but answered per item: bad inputs fail alone (``ItemResults``)."""
        return self._enqueue(inputs, partial=True, deadline=deadline)

    def _enqueue(
        self, inputs: Sequence[Raw], partial: bool, deadline: float | None = None
    ) -> Future[Any]:
        if isinstance(inputs, str | bytes):
            raise TypeError("inputs must be a sequence of str/bytes items, not one str/bytes")
        inputs = tuple(inputs)
        count = len(inputs)
        if count == 0:
            raise InvalidInputError("no inputs given", remedy="send at least one input")
        if count > self.capacity:
            raise InvalidInputError(
                f"{count} inputs in one request; encoder {self.name!r} queues at most "
                f"{self.capacity}",
                remedy=f"split the request into parts of at most {self.capacity} inputs",
            )
        deadline = earliest(deadline, current_deadline())
        cancellation = current_cancellation()
        if is_cancelled(cancellation):
            raise RequestCancelledError(f"queueing for encoder {self.name!r}")
        if expired(deadline):
            raise EngineTimeoutError(self.name)
        request = Request(inputs, partial, time.perf_counter(), deadline, cancellation)
        with self._lock:
            if self._state not in (_STARTING, _RUNNING):
                raise self._failure or EngineClosedError(self.name, self._state)
            if self._queued + count > self.capacity:
                self._counters.requests_rejected += 1
                wait = self._item_seconds * (self._queued + self._in_flight)
                retry = max(1, min(60, math.ceil(wait)))
                raise EngineBusyError(self.name, self._queued, self.capacity, retry)
            self._pending.append(request)
            self._queued += count
            counters = self._counters
            counters.requests_submitted += 1
            counters.max_queue_depth = max(counters.max_queue_depth, self._queued)
            self._work.notify()
        return request.future

    # -- batcher thread ------------------------------------------------------------------

    def _batcher_loop(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                break
            discard = self._discard
            live = [(r, i) for r, i in taken if not r.abandoned] if discard is None else []
            batch = self._preparer.prepare(live) if live else Batch()
            if len(live) < len(taken):  # nobody waits for these: never prepared nor run
                dropped = discard or EngineTimeoutError(self.name)
                gone = [(r, i) for r, i in taken if (r, i) not in live]
                batch.failed.extend((r, i, dropped) for r, i in gone)
                if discard is None:
                    self._count_abandoned(r for r, _ in gone)
            with self._lock:
                while self._slot is not None:
                    self._work.wait()
                self._slot = batch
                self._batch_ready.notify()
        with self._lock:
            self._batcher_done = True
            self._batch_ready.notify()

    def _take(self) -> Taken | None:
        """Wait for a batch's worth of work per the closing rule; None when shut down."""
        with self._lock:
            while True:
                open_ = self._state in (_STARTING, _RUNNING)
                if not self._pending:
                    if not open_:
                        return None
                    self._work.wait()
                    continue
                if self._slot is not None:
                    self._work.wait()  # one prepared batch ahead is enough: keep filling
                    continue
                if open_ and self._queued < self.max_batch_size and self._forward_busy:
                    delay = self._pending[0].enqueued_at + self.max_wait_s - time.perf_counter()
                    if delay > 0:
                        self._work.wait(delay)
                        continue
                taken = self._pop_items()
                if taken:
                    return taken

    def _pop_items(self) -> Taken:
        taken: Taken = []
        while self._pending and len(taken) < self.max_batch_size:
            request = self._pending[0]
            if request.cursor == 0 and not request.future.set_running_or_notify_cancel():
                self._pending.popleft()
                self._queued -= request.untaken
                self._counters.requests_cancelled += 1
                continue
            count = min(request.untaken, self.max_batch_size - len(taken))
            taken.extend((request, i) for i in range(request.cursor, request.cursor + count))
            request.cursor += count
            if request.untaken == 0:
                self._pending.popleft()
        self._queued -= len(taken)
        self._in_flight += len(taken)
        return taken

    # -- forward thread ------------------------------------------------------------------

    def _forward_loop(self) -> None:
        self._run_warmup()
        while True:
            with self._lock:
                while self._slot is None and not self._batcher_done:
                    self._batch_ready.wait()
                batch = self._slot
                if batch is None:
                    return
                self._slot = None
                self._forward_busy = True
                self._work.notify()
            self._run(batch)

    def _run_warmup(self) -> None:
        failure: ApplianceError | None = None
        sample = warmup_sample(self.encoder, self._warmup_input) if self._warmup else None
        if sample is not None:
            try:
                run_warmup(self.encoder, sample, self._warmup_sizes)
            except Exception as exc:
                log.exception("encoder %s: warm-up failed", self.name)
                failure = EngineFailedError(self.name, "warm-up", exc)
                failure.__cause__ = exc
        elif self._warmup:
            log.info("encoder %s offers no warm-up input; first requests pay for it", self.name)
        with self._lock:
            self._forward_busy = False
            if failure is not None:
                self._failure = failure
                self._state = _FAILED
                self._discard = failure
            elif self._state == _STARTING:
                self._state = _RUNNING
            self._work.notify()
        self._started.set()

    def _run(self, batch: Batch) -> None:
        if batch.valid and all(request.abandoned for request, _, _ in batch.valid):
            # every caller of this batch has gone (deadline passed, client gone): skip the forward
            dropped = EngineTimeoutError(self.name)
            self._count_abandoned(request for request, _, _ in batch.valid)
            batch.failed.extend((request, index, dropped) for request, index, _ in batch.valid)
            batch.valid, batch.payload = [], None
        forward_s, failed_items, outcomes = run_batch(self.encoder, batch)
        self._record(batch, forward_s, outcomes, failed_items)

    def _count_abandoned(self, requests: Iterable[Request]) -> None:
        """Count each abandoned request once, however many batches its items were in."""
        with self._lock:
            for request in requests:
                if not request.dropped:
                    request.dropped = True
                    self._counters.requests_cancelled += 1

    def _record(
        self, batch: Batch, forward_s: float, outcomes: list[bool], failed_items: int
    ) -> None:
        with self._lock:
            self._counters.record_batch(
                batch.size, failed_items, outcomes, batch.prepare_s, forward_s
            )
            if batch.valid:
                per_item = max(forward_s, batch.prepare_s) / batch.size
                self._item_seconds = 0.8 * self._item_seconds + 0.2 * per_item
            self._in_flight -= batch.size
            self._forward_busy = False
            self._work.notify()
        if self._on_batch is not None:
            event = BatchEvent(
                self.name, batch.size, failed_items, batch.queue_wait_s, batch.prepare_s, forward_s
            )
            try:
                self._on_batch(event)
            except Exception:
                log.exception("encoder %s: batch hook failed", self.name)

    # -- metrics -------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        """A consistent copy of the counters (queue depth, batch sizes, totals)."""
        with self._lock:
            return self._counters.snapshot(
                encoder=self.name,
                modality=str(self.encoder.modality),
                state=self._state,
                ready=self._state == _RUNNING,
                queue_depth=self._queued,
                queue_capacity=self.capacity,
                in_flight_items=self._in_flight,
            )
