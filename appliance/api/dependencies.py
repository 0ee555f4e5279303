"""What the controllers receive by injection: one ``Provide()`` per service.

The composition root (``appliance.server``) builds ``ApiServices`` from an opened
appliance and the served encoders; ``create_app`` turns each field into a litestar
dependency of the same name, so a handler declares exactly the services it uses
(``collections: CollectionService``, ``ingest: Available[IngestService]``). No torch
here: the served encoders are seen through a protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TextIO, TypeVar

from litestar.di import Provide

from appliance.api.metrics import ApiMetrics
from appliance.audit import AuditTrail
from appliance.domain.types import Modality
from appliance.engine import EncoderEngine, EngineStats
from appliance.errors import ApplianceError
from appliance.services.consent import ConsentService
from appliance.services.erasure import ErasureService
from appliance.services.ingest import EmbeddingService, IngestService, Screening
from appliance.services.items import CollectionService
from appliance.services.readiness import ReadinessService
from appliance.services.search import SearchService
from appliance.services.tokens import TokenService
from appliance.settings import LimitSettings

T = TypeVar("T")


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


def semantic_by_modality(encoders: ServedEncoders) -> dict[str, bool]:
    """Whether each served modality's vectors carry meaning: its encoder's label (a
    random-weight or random-init tower is non-semantic) and the space's."""
    return {
        modality.value: bool(encoders.semantic and getattr(engine.encoder, "semantic", True))
        for modality, engine in sorted(encoders.engines.items(), key=lambda kv: kv[0].value)
    }


class Available(Generic[T]):
    """A service the appliance may not serve yet (no space or policy loaded)."""

    def __init__(self, name: str, service: T | None) -> None:
        self._name = name
        self._service = service

    def get(self) -> T:
        """The service, or a 503 ``not_ready`` saying nothing of the kind is served yet."""
        if self._service is None:
            raise ApplianceError(
                f"{self._name} is not available: no embedding space or policy is loaded",
                remedy="import a model pack (appliance models import) and restart",
                code="not_ready",
            )
        return self._service

    def optional(self) -> T | None:
        """The service, or ``None`` when it is not served."""
        return self._service


@dataclass
class ApiServices:
    """Everything the controllers may use, built once by the composition root."""

    tokens: TokenService
    audit: AuditTrail
    collections: CollectionService
    erasure: ErasureService
    consent: ConsentService
    export_audit: Callable[[TextIO], int]
    limits: LimitSettings
    metrics: ApiMetrics
    readiness: ReadinessService
    encoders: ServedEncoders | None = None
    screening: Screening | None = None
    ingest: IngestService | None = None
    embeddings: EmbeddingService | None = None
    search: SearchService | None = None


OPTIONAL = frozenset({"encoders", "screening", "ingest", "embeddings", "search"})
"""Services that exist only once a space and a policy are loaded (``Available[...]``)."""


def _constant(value: Any) -> Callable[[], Any]:
    def provide() -> Any:
        return value

    return provide


def dependencies(services: ApiServices) -> dict[str, Provide]:
    """One ``Provide()`` per service, named as its ``ApiServices`` field."""
    provided: dict[str, Provide] = {}
    for spec in fields(services):
        value = getattr(services, spec.name)
        if spec.name in OPTIONAL:
            value = Available(spec.name, value)
        provided[spec.name] = Provide(_constant(value), sync_to_thread=False, use_cache=True)
    return provided
