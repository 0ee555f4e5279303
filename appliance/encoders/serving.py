"""Start the active space's encoders behind their batching engines (imports torch).

The HTTP layer receives an ``EncoderSet`` by injection and only calls its engines'
``encode_items_async``; it never imports this module at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.domain.types import Modality
from appliance.encoders.base import Encoder, Prepared
from appliance.encoders.factory import load_space
from appliance.engine import EncoderEngine, EngineStats
from appliance.errors import NotFoundError
from appliance.models import ModelStore
from appliance.observability import get_logger
from appliance.services.drift import DriftMonitor
from appliance.settings import Settings

log = get_logger(__name__)


@dataclass
class EncoderSet:
    """The served space: its identity, its engines by modality, and its models' labels."""

    space_name: str
    space_version: str
    dimension: int
    semantic: bool
    engines: dict[Modality, EncoderEngine]
    models: list[dict[str, Any]] = field(default_factory=list)
    drift: DriftMonitor | None = None
    """Running statistics of what the engines embed, against the space's baseline."""

    def engine(self, modality: Modality | str) -> EncoderEngine:
        """The engine of a modality, or ``NotFoundError`` naming what is served."""
        try:
            return self.engines[Modality(modality)]
        except (KeyError, ValueError) as exc:
            served = ", ".join(sorted(m.value for m in self.engines)) or "none"
            raise NotFoundError(
                f"no encoder serves modality {modality!r} in space {self.space_name!r}",
                remedy=f"served modalities: {served}",
            ) from exc

    def ready(self) -> bool:
        """True once every engine is warmed up and running."""
        return bool(self.engines) and all(e.ready for e in self.engines.values())

    def stats(self) -> list[EngineStats]:
        """Counters of every engine (for /metrics)."""
        return [e.stats() for e in self.engines.values()]

    def close(self) -> None:
        """Drain and stop every engine."""
        for engine in self.engines.values():
            engine.close()


def warmup_sample(modality: Modality) -> bytes | str:
    """A small synthetic input of ``modality`` for the engine's warm-up passes."""
    import io

    import numpy as np

    if modality is Modality.TEXT:
        return "warm-up sentence for the encoder"
    if modality is Modality.IMAGE:
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (128, 96, 64)).save(buffer, format="PNG")
        return buffer.getvalue()
    import soundfile

    buffer = io.BytesIO()
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    soundfile.write(buffer, tone, 16000, format="WAV")
    return buffer.getvalue()


class ObservedEncoder:
    """An encoder whose output rows are also shown to an observer (the drift monitor) once
    ``observe`` is set, i.e. after the engine's warm-up passes."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.modality = inner.modality
        self.dimension = inner.dimension
        self.device = inner.device
        self.max_batch_size = inner.max_batch_size
        self.semantic = inner.semantic
        self.observe: Callable[[str, np.ndarray], None] | None = None

    def prepare(self, raw: bytes | str) -> Prepared:
        """As the inner encoder."""
        return self.inner.prepare(raw)

    def collate(self, prepared: Sequence[Prepared]) -> Any:
        """As the inner encoder."""
        return self.inner.collate(prepared)

    def forward(self, batch: Any) -> Any:
        """As the inner encoder."""
        return self.inner.forward(batch)

    def finish(self, output: Any) -> np.ndarray:
        """The inner encoder's rows, observed on the way out."""
        rows = self.inner.finish(output)
        if self.observe is not None:
            try:
                self.observe(self.modality.value, rows)
            except Exception as exc:  # monitoring must never fail an embedding
                log.error("drift.observe_failed", error=type(exc).__name__)
        return rows


def drift_monitor(settings: Settings, store: ModelStore, space_name: str) -> DriftMonitor | None:
    """The monitor with the space's stored baseline statistics (None when disabled)."""
    if not settings.drift.enabled:
        return None
    from appliance.align.publish import read_baseline

    baseline = read_baseline(store, space_name) or {}
    return DriftMonitor(settings.drift, baseline.get("drift") or {})


def measure_probes(
    engines: dict[Modality, EncoderEngine], probes: dict[str, Any], monitor: DriftMonitor
) -> None:
    """Re-embed the baseline's probe pairs with the served engines; record recall@1 (mean of
    both directions) per modality. Probe vectors are not observed as traffic."""
    import base64

    from appliance.align.audit import audit_vectors

    for modality, probe in sorted(probes.items()):
        engine = engines.get(Modality(modality))
        text_engine = engines.get(Modality.TEXT)
        pairs = probe.get("pairs") or []
        if engine is None or text_engine is None or not pairs:
            continue
        try:
            items = engine.encode([base64.b64decode(p["data"]) for p in pairs], timeout=120)
            texts = text_engine.encode([p["text"] for p in pairs], timeout=120)
        except Exception as exc:  # a probe that no longer decodes is itself drift
            log.error("drift.probe_failed", modality=modality, error=type(exc).__name__)
            monitor.record_probe(modality, 0.0)
            continue
        report = audit_vectors(modality, items, texts, [p["key"] for p in pairs])
        recall = float(np.mean([figures["recall@1"] for figures in report.values()]))
        monitor.record_probe(modality, recall)


def start_encoders(settings: Settings) -> EncoderSet:
    """Verify and load the active space, then start one engine per modality."""
    store = ModelStore(settings.models_dir)
    space = load_space(store, settings.encoders)
    engines: dict[Modality, EncoderEngine] = {}
    observed: list[ObservedEncoder] = []
    try:
        for modality, encoder in space.encoders.items():
            observed.append(ObservedEncoder(encoder))
            engines[modality] = EncoderEngine(
                observed[-1], settings.encoders, warmup_input=warmup_sample(modality)
            ).start()
    except BaseException:
        for engine in engines.values():
            engine.close(drain=False)
        raise
    monitor = drift_monitor(settings, store, space.name)
    if monitor is not None:
        from appliance.align.publish import read_baseline

        probes = (read_baseline(store, space.name) or {}).get("probes") or {}
        measure_probes(engines, probes, monitor)
        for encoder in observed:
            encoder.observe = monitor.observe
    record = store.space()
    used = set(record.models) if record else set()
    models = [
        {
            "id": entry.name,
            "family": entry.family,
            "modalities": list(entry.modalities),
            "dimension": entry.dimension,
            "semantic": entry.semantic,
        }
        for entry in store.list_models()
        if entry.name in used
    ]
    return EncoderSet(
        space_name=space.name,
        space_version=space.version,
        dimension=space.dimension,
        semantic=space.semantic,
        engines=engines,
        models=models,
        drift=monitor,
    )
