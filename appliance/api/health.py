"""/healthz (alive), /readyz (fail-closed readiness), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from appliance.api.contract import NotReadyBody, error_responses, to_struct
from appliance.api.errors import error_body
from appliance.api.metrics import ApiMetrics
from appliance.api.schemas import Alive, Ready
from appliance.services.readiness import ReadinessService

PUBLIC = {"public": True}


class HealthController(Controller):
    """Liveness, readiness and metrics; no token needed."""

    path = "/"
    tags: ClassVar[list[str]] = ["health"]

    @get(
        "/healthz",
        opt=PUBLIC,
        media_type=MediaType.JSON,
        sync_to_thread=False,
        responses=error_responses((500,)),
    )
    def healthz(self) -> Alive:
        """The process is alive and answering."""
        return Alive(status="alive")

    @get(
        "/readyz",
        opt=PUBLIC,
        media_type=MediaType.JSON,
        sync_to_thread=True,
        responses={
            200: ResponseSpec(data_container=Ready, description="Ready", generate_examples=False),
            503: ResponseSpec(
                data_container=NotReadyBody,
                generate_examples=False,
                description="Not ready (code not_ready): checks names each failed check",
            ),
            **error_responses((500,)),
        },
    )
    def readyz(
        self, readiness: NamedDependency[ReadinessService], metrics: NamedDependency[ApiMetrics]
    ) -> Response[Any]:
        """Ready only when models are verified and loaded, the store answers, the audit and
        index directories are writable and the last audit verification passed."""
        problems = readiness.problems()
        drift = metrics.drift() if metrics.drift is not None else None
        if drift is not None and drift.fail_readiness and drift.drifting:
            problems.append(f"drift: {', '.join(drift.drifting)} above {drift.threshold:g}")
        if problems:
            extra = {"drift": drift.details()} if drift is not None else {}
            body = error_body(
                "not_ready", "; ".join(problems), "see the service log", checks=problems, **extra
            )
            return Response(
                to_struct(body, NotReadyBody), status_code=503, media_type=MediaType.JSON
            )
        warnings = readiness.warnings()
        if drift is not None and drift.drifting:
            warnings.append(f"drift: {', '.join(drift.drifting)} above {drift.threshold:g}")
        ready: dict[str, Any] = {"status": "ready"}
        if warnings:
            ready["warnings"] = warnings
        if drift is not None:
            ready["drift"] = drift.details()
        return Response(to_struct(ready, Ready), media_type=MediaType.JSON)

    @get(
        "/metrics",
        opt=PUBLIC,
        media_type="text/plain; version=0.0.4",
        sync_to_thread=False,
        responses=error_responses((500,)),
    )
    def metrics(self, metrics: NamedDependency[ApiMetrics]) -> Response[bytes]:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")
