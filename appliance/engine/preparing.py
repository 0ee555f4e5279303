"""The batcher's CPU stage: ``prepare`` every item (on a small pool), then ``collate``.

A bad item becomes that item's error; a collate failure becomes the batch's error.
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

from appliance.encoders.base import Encoder, Prepared
from appliance.engine.errors import EngineFailedError
from appliance.engine.requests import Batch, Raw, Request
from appliance.errors import ApplianceError, InvalidInputError

log = logging.getLogger(__name__)

Taken = list[tuple[Request, int]]
"""Items taken from the queue: (request, input position)."""


def default_prepare_workers(device: str) -> int:
    """Pool threads for ``prepare`` besides the batcher thread itself.

    On a GPU the CPU only pre-processes, so most cores decode (up to 8). On the CPU the
    forward pass already uses every core; extra decoding threads would only fight it (and
    the GIL), so the batcher thread alone prepares, overlapping the forward pass.
    """
    cores = os.cpu_count() or 1
    return max(0, min(8, cores - 2)) if device.startswith("cuda") else 0


class BatchPreparer:
    """Runs ``prepare`` in chunks: ``workers`` on the pool plus one on the calling thread."""

    def __init__(self, encoder: Encoder, workers: int) -> None:
        self.encoder = encoder
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Create the thread pool (none with 0 workers: all on the batcher thread)."""
        if self.workers < 1:
            return
        self._pool = ThreadPoolExecutor(
            self.workers, thread_name_prefix=f"engine-{self.encoder.name}-prep"
        )

    def shutdown(self) -> None:
        """Join the pool's threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def prepare(self, taken: Taken) -> Batch:
        """Prepare and collate the taken items into a batch for the forward thread."""
        start = time.perf_counter()
        batch = Batch(queue_wait_s=start - min(request.enqueued_at for request, _ in taken))
        results = self._prepare_all([request.inputs[i] for request, i in taken])
        prepared: list[Prepared] = []
        for (request, index), result in zip(taken, results, strict=True):
            if isinstance(result, Prepared):
                batch.valid.append((request, index, result.notes))
                prepared.append(result)
            else:
                batch.failed.append((request, index, result))
        if prepared:
            try:
                batch.payload = self.encoder.collate(prepared)
            except Exception as exc:
                log.exception("encoder %s: collate failed", self.encoder.name)
                batch.error = EngineFailedError(self.encoder.name, "collate", exc)
                batch.error.__cause__ = exc
        batch.prepare_s = time.perf_counter() - start
        return batch

    def _prepare_all(self, raws: list[Raw]) -> list[Prepared | ApplianceError]:
        pool = self._pool
        parts = min(len(raws), self.workers + 1)
        if parts <= 1 or pool is None:
            return self._prepare_chunk(raws)
        step = math.ceil(len(raws) / parts)
        chunks = [raws[i : i + step] for i in range(0, len(raws), step)]
        futures = [pool.submit(self._prepare_chunk, chunk) for chunk in chunks[1:]]
        results = self._prepare_chunk(chunks[0])
        for future in futures:
            results.extend(future.result())
        return results

    def _prepare_chunk(self, raws: list[Raw]) -> list[Prepared | ApplianceError]:
        return [self._prepare_one(raw) for raw in raws]

    def _prepare_one(self, raw: Raw) -> Prepared | ApplianceError:
        try:
            return self.encoder.prepare(raw)
        except ApplianceError as exc:
            return exc
        except Exception as exc:  # a decoder's own exception: still this item's problem
            modality = self.encoder.modality
            log.warning("encoder %s: prepare raised %s", self.encoder.name, type(exc).__name__)
            error = InvalidInputError(
                f"the {modality} input could not be read ({type(exc).__name__})",
                remedy=f"send a valid, supported {modality} input",
            )
            error.__cause__ = exc
            return error
