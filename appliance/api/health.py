"""/healthz (alive), /readyz (fail-closed readiness), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.di import NamedDependency

from appliance.api.errors import error_body
from appliance.api.state import ApiState

PUBLIC = {"public": True}


@get("/healthz", opt=PUBLIC, media_type=MediaType.JSON, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is alive and answering."""
    return {"status": "alive"}


@get("/readyz", opt=PUBLIC, media_type=MediaType.JSON, sync_to_thread=True)
def readyz(api: NamedDependency[ApiState]) -> Response[Any]:
    """Ready only when models are verified and loaded, and store and audit are writable."""
    problems = api.readiness_problems()
    drift = api.metrics.drift() if api.metrics.drift is not None else None
    if drift is not None and drift.fail_readiness and drift.drifting:
        problems.append(f"drift: {', '.join(drift.drifting)} above {drift.threshold:g}")
    if problems:
        extra = {"drift": drift.details()} if drift is not None else {}
        body = error_body(
            "not_ready", "; ".join(problems), "see the service log", checks=problems, **extra
        )
        return Response(body, status_code=503, media_type=MediaType.JSON)
    warnings = api.readiness_warnings()
    if drift is not None and drift.drifting:
        warnings.append(f"drift: {', '.join(drift.drifting)} above {drift.threshold:g}")
    body: dict[str, Any] = {"status": "ready", **({"warnings": warnings} if warnings else {})}
    if drift is not None:
        body["drift"] = drift.details()
    return Response(body, media_type=MediaType.JSON)


@get("/metrics", opt=PUBLIC, media_type="text/plain; version=0.0.4", sync_to_thread=False)
def metrics(api: NamedDependency[ApiState]) -> Response[bytes]:
    """Prometheus text exposition."""
    return Response(api.metrics.render(), media_type="text/plain; version=0.0.4")
