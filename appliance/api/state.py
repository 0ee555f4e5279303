"""What the routes receive by injection: the opened appliance and the served encoders.

No torch here: the served encoders are seen through a protocol; the composition root
builds the real ``EncoderSet``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.api.metrics import ApiMetrics
from appliance.domain.types import Modality
from appliance.engine import EncoderEngine, EngineStats
from appliance.errors import ApplianceError
from appliance.observability import get_logger
from appliance.services.consent import ConsentService
from appliance.services.ingest import EmbeddingService, IngestService, Screening
from appliance.services.search import SearchService
from appliance.wiring import Appliance

log = get_logger(__name__)


class ServedEncoders(Protocol):
    """What the API needs of the served space (``appliance.encoders.serving.EncoderSet``)."""

    space_name: str
    space_version: str
    dimension: int
    semantic: bool
    engines: dict[Modality, EncoderEngine]
    models: list[dict[str, Any]]

    def engine(self, modality: Modality | str) -> EncoderEngine: ...

    def ready(self) -> bool: ...

    def stats(self) -> list[EngineStats]: ...


@dataclass
class ApiState:
    """Everything a request handler may use."""

    appliance: Appliance
    encoders: ServedEncoders | None
    metrics: ApiMetrics
    model_readiness: Callable[[], tuple[bool, str]] = lambda: (True, "")
    screening: Screening | None = None
    ingest: IngestService | None = None
    embeddings: EmbeddingService | None = None
    consent: ConsentService | None = None
    search: SearchService | None = None

    def require(self, what: str) -> Any:
        """A configured service, or a 503 saying the appliance serves no such thing yet."""
        service = getattr(self, what)
        if service is None:
            raise ApplianceError(
                f"{what} is not available: no embedding space or policy is loaded",
                remedy="import a model pack (appliance models import) and restart",
                code="not_ready",
            )
        return service

    def readiness_problems(self) -> list[str]:
        """Empty when ready; otherwise each failed check, named (fail closed)."""
        problems: list[str] = []
        ok, reason = self.model_readiness()
        if not ok:
            problems.append(f"models: {reason}")
        if self.encoders is None or not self.encoders.ready():
            problems.append("encoders: not loaded")
        data_dir = self.appliance.settings.data_dir
        for name in ("audit", "index"):
            if not os.access(data_dir / name, os.W_OK):
                problems.append(f"{name}: directory not writable")
        try:
            with self.appliance.database.read() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any store failure means not ready
            problems.append(f"store: {type(exc).__name__}")
        if self.appliance.audit.head is None:
            problems.append("audit: trail has no genesis entry")
        return problems

    def readiness_warnings(self) -> list[str]:
        """Conditions an operator must act on that do not stop serving (erasure hygiene)."""
        from appliance.store.repository import count_items_without_key

        warnings: list[str] = []
        try:
            with self.appliance.database.read() as connection:
                orphans = count_items_without_key(connection)
            keys = self.appliance.keys.status()
        except Exception as exc:  # reported by readiness_problems
            log.warning("readiness.warnings_unavailable", error=type(exc).__name__)
            return warnings
        if orphans:
            warnings.append(f"items: {orphans} stored item(s) have no data key (unreadable)")
        if keys.shreds_overdue:
            warnings.append(f"keys: {keys.shreds_overdue} KEK shred(s) overdue after erasure")
        return warnings
