"""The app factory: the one place that wires the HTTP layer (controllers, one ``Provide()``
per service, the guard, middleware, error handlers and the OpenAPI document)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ControllerRouterHandler

from appliance import __version__
from appliance.api.admin import AuditController
from appliance.api.auth import AccessControl, authorize
from appliance.api.body import GuardedRequest
from appliance.api.classify import ClassifyController
from appliance.api.collections import CollectionController, SubjectController
from appliance.api.consents import ConsentController
from appliance.api.deadline import deadline_middleware
from appliance.api.dependencies import ApiServices, dependencies
from appliance.api.embeddings import EmbeddingsController, ModelController
from appliance.api.errors import handle_appliance_error, handle_http_exception, handle_unexpected
from appliance.api.health import HealthController
from appliance.api.items import ItemController
from appliance.api.limits import FailureLockout, RateLimiter
from appliance.api.search import SearchController
from appliance.errors import ApplianceError
from appliance.settings import ApiSettings

MAX_BODY_BYTES = 64 * 1024 * 1024
_RATES = ApiSettings()  # the [api] settings' defaults (the server passes the configured ones)

ROUTES: Sequence[ControllerRouterHandler] = (
    HealthController,
    CollectionController,
    SubjectController,
    ItemController,
    SearchController,
    ClassifyController,
    ConsentController,
    EmbeddingsController,
    ModelController,
    AuditController,
)


def create_app(
    services: ApiServices,
    *,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    requests_per_second: float = _RATES.requests_per_minute_per_token / 60.0,
    burst: int = _RATES.request_burst_per_token,
    failures_per_minute: int = _RATES.auth_failures_per_minute,
    lockout_seconds: float = _RATES.lockout_seconds,
    on_startup: Sequence[Callable[[], None]] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> Litestar:
    """Build the litestar app around the composed services (``appliance.server``); the
    rate limits and lockout come from the ``[api]`` settings (``server.api_limits``)."""
    access = AccessControl(
        tokens=services.tokens,
        audit=services.audit,
        per_token=RateLimiter(requests_per_second, burst, monotonic=time.monotonic),
        failures=FailureLockout(failures_per_minute, lockout_seconds),
    )
    limits = services.limits
    return Litestar(
        route_handlers=[*ROUTES, *extra_routes],
        dependencies=dependencies(services),
        guards=[authorize],
        middleware=[services.metrics.middleware, deadline_middleware(limits.request_deadline_s)],
        exception_handlers={
            ApplianceError: handle_appliance_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        openapi_config=OpenAPIConfig(
            title="Appliance API",
            version=__version__,
            description="On-premise multimodal embedding appliance (intranet API). Every "
            'error is {"error": {"code", "message", "remedy"}} (ErrorBody).',
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            create_examples=False,
        ),
        request_max_body_size=MAX_BODY_BYTES,
        state=State({"access": access, "max_json_depth": limits.max_json_depth}),
        request_class=GuardedRequest,
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        debug=False,
        logging_config=None,
    )
