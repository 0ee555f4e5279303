"""The app factory: the one place that wires the HTTP layer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ControllerRouterHandler

from appliance import __version__
from appliance.api import admin, embeddings, health, items
from appliance.api.auth import AccessControl, authorize
from appliance.api.body import GuardedRequest
from appliance.api.deadline import deadline_middleware
from appliance.api.errors import handle_appliance_error, handle_http_exception, handle_unexpected
from appliance.api.limits import FailureLockout, RateLimiter
from appliance.api.state import ApiState
from appliance.errors import ApplianceError

MAX_BODY_BYTES = 64 * 1024 * 1024

ROUTES: Sequence[ControllerRouterHandler] = (
    health.healthz,
    health.readyz,
    health.metrics,
    admin.create_collection,
    admin.list_collections,
    admin.erase_subject,
    admin.audit_export,
    admin.list_models,
    items.ingest_items,
    items.search,
    items.classify_input,
    items.grant_consent,
    items.list_consents,
    items.revoke_consent,
    embeddings.create_embeddings,
)


def create_app(
    state: ApiState,
    *,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    requests_per_second: float = 50.0,
    burst: int = 200,
    failures_per_minute: int = 20,
    lockout_seconds: float = 60.0,
    on_startup: Sequence[Callable[[], None]] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> Litestar:
    """Build the litestar app around an opened appliance and its served encoders."""
    access = AccessControl(
        tokens=state.appliance.tokens,
        audit=state.appliance.audit,
        per_token=RateLimiter(requests_per_second, burst, monotonic=time.monotonic),
        failures=FailureLockout(failures_per_minute, lockout_seconds),
    )

    limits = state.appliance.settings.limits

    def provide_state() -> ApiState:
        return state

    return Litestar(
        route_handlers=[*ROUTES, *extra_routes],
        dependencies={"api": Provide(provide_state, sync_to_thread=False)},
        guards=[authorize],
        middleware=[state.metrics.middleware, deadline_middleware(limits.request_deadline_s)],
        exception_handlers={
            ApplianceError: handle_appliance_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        openapi_config=OpenAPIConfig(
            title="Appliance API",
            version=__version__,
            description="On-premise multimodal embedding appliance (intranet API).",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        request_max_body_size=MAX_BODY_BYTES,
        state=State({"access": access, "max_json_depth": limits.max_json_depth}),
        request_class=GuardedRequest,
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        debug=False,
        logging_config=None,
    )
