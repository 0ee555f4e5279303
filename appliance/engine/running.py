"""The forward thread's work: warm-up, one batch through the model, results back per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from appliance.encoders.base import Encoder
from appliance.engine.errors import EngineFailedError
from appliance.engine.requests import Batch, Raw, Request
from appliance.errors import ApplianceError

log = logging.getLogger(__name__)


def warmup_sample(encoder: Encoder, explicit: Raw | None) -> Raw | None:
    """The input to warm up with: ``explicit``, else the encoder's ``warmup_input`` if any."""
    if explicit is not None:
        return explicit
    offered = getattr(encoder, "warmup_input", None)
    sample = offered() if callable(offered) else offered
    return sample if isinstance(sample, bytes | str) else None


def run_warmup(encoder: Encoder, sample: Raw, sizes: Sequence[int]) -> None:
    """One batch of each size class through the whole path (allocators, kernels, caches)."""
    prepared = encoder.prepare(sample)
    for size in sizes:
        encoder.finish(encoder.forward(encoder.collate([prepared] * size)))


def run_batch(encoder: Encoder, batch: Batch) -> tuple[float, int, list[bool]]:
    """Forward the batch and answer its requests.

    Returns (seconds in forward+finish, items failed, one outcome per request completed).
    Never raises: should delivery itself fail (a bug), the batch's callers get an error
    rather than waiting forever.
    """
    try:
        return _run_batch(encoder, batch)
    except Exception as exc:
        log.exception("encoder %s: batch delivery failed", encoder.name)
        error = EngineFailedError(encoder.name, "delivery", exc)
        for request in {id(r): r for r, *_ in (*batch.valid, *batch.failed)}.values():
            if not request.future.done():
                request.future.set_exception(error)
        return 0.0, batch.size, []


def _run_batch(encoder: Encoder, batch: Batch) -> tuple[float, int, list[bool]]:
    start = time.perf_counter()
    rows, error = _forward(encoder, batch)
    batch.payload = None
    forward_s = time.perf_counter() - start
    finished: list[Request] = []
    for position, (request, index, notes) in enumerate(batch.valid):
        if rows is not None:
            done = request.set_row(index, rows[position], notes)
        else:
            done = request.set_error(index, error or _no_output(encoder))
        if done:
            finished.append(request)
    for request, index, item_error in batch.failed:
        if request.set_error(index, item_error):
            finished.append(request)
    outcomes = [request.resolve(encoder.dimension) for request in finished]
    failed = len(batch.failed) + (0 if rows is not None else len(batch.valid))
    return forward_s, failed, outcomes


def _forward(encoder: Encoder, batch: Batch) -> tuple[np.ndarray | None, ApplianceError | None]:
    """Run the model on the batch's valid items: (rows, None) or (None, error)."""
    if batch.error is not None or not batch.valid:
        return None, batch.error
    try:
        output = encoder.finish(encoder.forward(batch.payload))
        rows = np.asarray(output, dtype=np.float32)
        if rows.shape != (len(batch.valid), encoder.dimension):
            raise ValueError(f"finish() gave shape {rows.shape}")
    except Exception as exc:
        log.exception("encoder %s: forward failed on a batch of %d", encoder.name, batch.size)
        error = EngineFailedError(encoder.name, "forward", exc)
        error.__cause__ = exc
        return None, error
    return rows, None


def _no_output(encoder: Encoder) -> ApplianceError:
    return EngineFailedError(encoder.name, "forward", RuntimeError("no output"))
