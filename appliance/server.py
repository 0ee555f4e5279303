"""Serving: compose the API state from an opened appliance, run it under uvicorn with
graceful shutdown and systemd notification (READY=1, WATCHDOG=1)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from appliance.api.app import create_app
from appliance.api.metrics import ApiMetrics
from appliance.api.state import ApiState
from appliance.crypto.keyring import SYSTEM_OWNER, KeyKind
from appliance.detectors import get_registry
from appliance.domain.types import Actor
from appliance.models import ModelStore
from appliance.observability import get_logger
from appliance.policy import PolicyEngine
from appliance.services.consent import ConsentService
from appliance.services.ingest import EmbeddingService, IngestService, Screening
from appliance.settings import ServerSettings, Settings
from appliance.wiring import Appliance, open_appliance

log = get_logger(__name__)


def build_state(app: Appliance, *, policies_dir: Path | None = None) -> ApiState:
    """Start the encoders of the active space and compose every service the API uses."""
    from appliance.encoders.serving import start_encoders  # torch lives behind this import

    settings = app.settings
    policy = PolicyEngine.load(policies_dir)
    get_registry().warm()  # detectors load before readiness, not on the first request
    encoders = start_encoders(settings)
    consent = ConsentService.for_appliance(app)
    screening = Screening(
        policy=policy,
        consent=consent,
        encoder_settings=settings.encoders,
        clock=app.clock,
        dicom_uid_key=_derived_secret(app, b"dicom-uid-replacement"),
    )
    store = ModelStore(settings.models_dir)

    def model_readiness() -> tuple[bool, str]:
        ready = store.ready()
        return ready.ok, ready.reason

    return ApiState(
        appliance=app,
        encoders=encoders,
        metrics=ApiMetrics(engine_stats=encoders.stats),
        model_readiness=model_readiness,
        screening=screening,
        ingest=IngestService(
            screening=screening, items=app.items, pseudonymize=app.pseudonymize, audit=app.audit
        ),
        embeddings=EmbeddingService(screening=screening, audit=app.audit),
        consent=consent,
    )


def _derived_secret(app: Appliance, purpose: bytes) -> bytes:
    """A stable secret for ``purpose``, derived from the KEK-protected pseudonym key."""
    with app.database.write() as connection:
        _, key = app.keyring.get(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
    return hmac.new(key, purpose, hashlib.sha256).digest()


def notify(message: str) -> None:
    """Send a message to systemd when ``NOTIFY_SOCKET`` is set (no-op otherwise)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(target)
        sock.sendall(message.encode())


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    policies_dir: Path | None = None,
    on_ready: Callable[[ApiState], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: drain requests, snapshot indexes, audit the stop."""
    app = open_appliance(settings)
    state = build_state(app, policies_dir=policies_dir)
    app.indexes.start_periodic_snapshots()  # a crash then costs only the tail to reconcile
    stop = threading.Event()

    def watchdog() -> None:
        interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 2_000_000
        while interval > 0 and not stop.wait(interval):
            if not state.readiness_problems():
                notify("WATCHDOG=1")

    def started() -> None:
        app.audit.append(
            actor=Actor.operator(),
            action="appliance.start",
            outcome="ok",
            details={"space": state.encoders.space_version if state.encoders else ""},
        )
        notify("READY=1")
        threading.Thread(target=watchdog, name="watchdog", daemon=True).start()
        if on_ready is not None:
            on_ready(state)

    def stopping() -> None:
        notify("STOPPING=1")
        stop.set()
        if state.encoders is not None:
            state.encoders.close()  # type: ignore[attr-defined]
        app.audit.append(actor=Actor.operator(), action="appliance.stop", outcome="ok")
        app.indexes.stop_periodic_snapshots()
        app.close()

    api = create_app(state, on_startup=[started], on_shutdown=[stopping])
    uvicorn.Server(uvicorn_config(api, settings.server, host=host, port=port)).run()


def uvicorn_config(app: Any, server: ServerSettings, *, host: str, port: int) -> uvicorn.Config:
    """The listener: plain HTTP, TLS with a certificate, mutual TLS with a client CA."""
    tls: dict[str, Any] = {}
    if server.tls_cert_file:
        tls = {"ssl_certfile": server.tls_cert_file, "ssl_keyfile": server.tls_key_file}
    if server.tls_client_ca_file:
        tls.update(ssl_ca_certs=server.tls_client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=30,
        **tls,
    )
