"""Start the active space's encoders behind their batching engines (imports torch).

The HTTP layer receives an ``EncoderSet`` by injection and only calls its engines'
``encode_items_async``; it never imports this module at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.domain.types import Modality
from appliance.encoders.factory import load_space
from appliance.engine import EncoderEngine, EngineStats
from appliance.errors import NotFoundError
from appliance.models import ModelStore
from appliance.settings import Settings


@dataclass
class EncoderSet:
    """The served space: its identity, its engines by modality, and its models' labels."""

    space_name: str
    space_version: str
    dimension: int
    semantic: bool
    engines: dict[Modality, EncoderEngine]
    models: list[dict[str, Any]] = field(default_factory=list)

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


def start_encoders(settings: Settings) -> EncoderSet:
    """Verify and load the active space, then start one engine per modality."""
    store = ModelStore(settings.models_dir)
    space = load_space(store, settings.encoders)
    engines: dict[Modality, EncoderEngine] = {}
    try:
        for modality, encoder in space.encoders.items():
            engines[modality] = EncoderEngine(encoder, settings.encoders).start()
    except BaseException:
        for engine in engines.values():
            engine.close(drain=False)
        raise
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
    )
