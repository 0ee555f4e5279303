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


def start_encoders(settings: Settings) -> EncoderSet:
    """Verify and load the active space, then start one engine per modality."""
    store = ModelStore(settings.models_dir)
    space = load_space(store, settings.encoders)
    engines: dict[Modality, EncoderEngine] = {}
    try:
        for modality, encoder in space.encoders.items():
            engines[modality] = EncoderEngine(
                encoder, settings.encoders, warmup_input=warmup_sample(modality)
            ).start()
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
