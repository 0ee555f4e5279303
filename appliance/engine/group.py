"""One engine per encoder, started and stopped together (what the API and CLI hold)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from appliance.encoders.base import Encoder
from appliance.engine.core import EncoderEngine
from appliance.engine.metrics import BatchHook, EngineStats
from appliance.errors import ApplianceError, InvalidInputError
from appliance.settings import EncoderSettings


class EngineGroup:
    """Engines keyed by modality (``text``, ``image``, ``audio``); warm-ups run in parallel."""

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        settings: EncoderSettings | None = None,
        *,
        on_batch: BatchHook | None = None,
    ) -> None:
        self.engines: dict[str, EncoderEngine] = {
            str(key): EncoderEngine(encoder, settings, on_batch=on_batch)
            for key, encoder in encoders.items()
        }

    def start(self, *, timeout: float | None = None) -> EngineGroup:
        """Start every engine and wait for all warm-ups; on any failure close them all."""
        for engine in self.engines.values():
            engine.start(wait=False)
        errors: list[ApplianceError] = []

        def wait(engine: EncoderEngine) -> None:
            try:
                engine.wait_ready(timeout)
            except ApplianceError as exc:
                errors.append(exc)

        waiters = [threading.Thread(target=wait, args=(e,)) for e in self.engines.values()]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()
        if errors:
            self.close(drain=False)
            raise errors[0]
        return self

    def get(self, modality: str) -> EncoderEngine:
        """The engine for ``modality``; ``InvalidInputError`` naming the ones served if absent."""
        engine = self.engines.get(str(modality))
        if engine is None:
            served = ", ".join(sorted(self.engines)) or "none"
            raise InvalidInputError(
                f"no encoder for modality {modality!r}", remedy=f"use one of: {served}"
            )
        return engine

    @property
    def ready(self) -> bool:
        """True when every engine is warmed up and running (for /readyz)."""
        return bool(self.engines) and all(e.ready for e in self.engines.values())

    def stats(self) -> list[EngineStats]:
        """Counters of every engine."""
        return [engine.stats() for engine in self.engines.values()]

    def close(self, *, drain: bool = True) -> None:
        """Stop accepting everywhere first, then drain and join each engine."""
        closers = [
            threading.Thread(target=e.close, kwargs={"drain": drain}) for e in self.engines.values()
        ]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()

    def __enter__(self) -> EngineGroup:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
