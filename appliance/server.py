"""Serving: compose the API state from an opened appliance, run it under uvicorn with
graceful shutdown and systemd notification (READY=1, WATCHDOG=1)."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from appliance.api.app import create_app
from appliance.api.dependencies import ApiServices, ServedEncoders
from appliance.api.metrics import ApiMetrics
from appliance.audit import export_jsonl
from appliance.audit.entry import SYSTEM_ACTOR
from appliance.detectors import DetectorRegistry
from appliance.domain.types import Actor
from appliance.errors import ApplianceError, ConfigError
from appliance.models import ModelStore
from appliance.observability import adopt_library_loggers, get_logger
from appliance.policy import PolicyEngine
from appliance.services.ingest import EmbeddingService, IngestService, Screening
from appliance.services.readiness import Check, ReadinessService
from appliance.services.search import SearchService
from appliance.settings import ApiSettings, ServerSettings, Settings
from appliance.store.repository import count_items_without_key
from appliance.wiring import Appliance, open_appliance, remove_stale_snapshot_temps

log = get_logger(__name__)


def api_services(
    app: Appliance,
    *,
    encoders: ServedEncoders | None = None,
    screening: Screening | None = None,
    metrics: ApiMetrics | None = None,
    model_readiness: Callable[[], str | None] = lambda: None,
) -> ApiServices:
    """What the API's controllers get injected, composed from an opened appliance (and,
    when a space is served, its encoders and the screening in front of them)."""
    served = {}
    if encoders is not None and screening is not None:
        gate = _risk_gate(app.settings.data_dir, screening.policy.policy.risk_limits)
        served = {
            "screening": screening,
            "ingest": IngestService(
                screening=screening,
                items=app.items,
                pseudonymize=app.pseudonymize,
                audit=app.audit,
                risk_gate=gate,
            ),
            "embeddings": EmbeddingService(screening=screening, audit=app.audit, risk_gate=gate),
            "search": SearchService(screening=screening, items=app.items, audit=app.audit),
        }
    return ApiServices(
        tokens=app.tokens,
        audit=app.audit,
        collections=app.collections,
        erasure=app.erasure,
        consent=app.consent,
        export_audit=lambda out: export_jsonl(app.settings.data_dir / "audit", out),
        limits=app.settings.limits,
        metrics=metrics or ApiMetrics(),
        readiness=readiness_service(app, encoders, model_readiness),
        encoders=encoders,
        **served,
    )


def readiness_service(
    app: Appliance,
    encoders: ServedEncoders | None,
    model_readiness: Callable[[], str | None] = lambda: None,
) -> ReadinessService:
    """The readiness checks of a serving appliance, fail closed, in the order reported."""
    data_dir = app.settings.data_dir

    def writable(name: str) -> Callable[[], str | None]:
        return lambda: None if os.access(data_dir / name, os.W_OK) else "directory not writable"

    def store_answers() -> str | None:
        with app.database.read() as connection:
            connection.exec_driver_sql("SELECT 1")
        return None

    def audit_trail() -> str | None:
        if app.audit.head is None:
            return "trail has no genesis entry"
        return app.audit_health.problem()

    def erasure_hygiene() -> list[str]:
        with app.database.read() as connection:
            orphans = count_items_without_key(connection)
        keys = app.keys.status()
        found = []
        if orphans:
            found.append(f"items: {orphans} stored item(s) have no data key (unreadable)")
        if keys.shreds_overdue:
            found.append(f"keys: {keys.shreds_overdue} KEK shred(s) overdue after erasure")
        return found

    checks: list[tuple[str, Check]] = [
        ("models", model_readiness),
        ("encoders", lambda: None if encoders is not None and encoders.ready() else "not loaded"),
        ("audit", writable("audit")),
        ("index", writable("index")),
        ("store", store_answers),
        ("audit", audit_trail),
        ("keys", app.keys.ring_problem),  # a KEK ring older than the shared store's
    ]
    return ReadinessService(checks, warnings=[erasure_hygiene, app.keys.warnings])


def build_state(app: Appliance, *, policies_dir: Path | None = None) -> ApiServices:
    """Start the encoders of the active space and compose every service the API uses."""
    from appliance.encoders.serving import start_encoders  # torch lives behind this import

    settings = app.settings
    policy = PolicyEngine.load(policies_dir)
    detectors = DetectorRegistry()  # the one registry every screening of this server uses
    detectors.warm()  # detectors load before readiness, not on the first request
    encoders = start_encoders(settings)
    screening = Screening(
        policy=policy,
        consent=app.consent,
        encoder_settings=settings.encoders,
        clock=app.clock,
        dicom_uid_key=app.derived_secret(b"dicom-uid-replacement"),
        noise_key=app.derived_secret(b"defence-noise"),
        detectors=detectors,
    )
    store = ModelStore(settings.models_dir)

    adopt_library_loggers()  # encoders and detectors are loaded: route their loggers to JSON
    if encoders.drift is not None:
        encoders.drift.on_change = _audit_drift(app, encoders.space_version)

    def model_readiness() -> str | None:
        ready = store.ready()
        return None if ready.ok else ready.reason

    return api_services(
        app,
        encoders=encoders,
        screening=screening,
        metrics=ApiMetrics(
            engine_stats=encoders.stats,
            drift=encoders.drift.report if encoders.drift is not None else None,
        ),
        model_readiness=model_readiness,
    )


def _audit_drift(app: Appliance, space_version: str) -> Callable[[str, bool, dict], None]:
    """Audit each time a modality starts or stops drifting from the space's baseline."""

    def record(modality: str, drifting: bool, scores: dict) -> None:
        app.audit.append(
            actor=SYSTEM_ACTOR,
            action="space.drift",
            outcome="detected" if drifting else "cleared",
            details={"space": space_version, "modality": modality, **scores},
        )

    return record


def _risk_gate(data_dir: Path, limits: Any) -> Any:
    """Ingestion and ``/v1/embeddings`` refuse what a failed risk audit blocks
    (``appliance/services/risk_gate``)."""
    from appliance.services.risk_gate import RiskGate, VerdictStore

    return RiskGate(limits, VerdictStore.in_data_dir(data_dir))


def notify(message: str) -> None:
    """Send a message to systemd when ``NOTIFY_SOCKET`` is set (no-op otherwise)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(target)
        sock.sendall(message.encode())


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (an address or a name) only ever means this machine."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        addresses = [ipaddress.ip_address(name.split("%")[0])]
    except ValueError:
        try:  # a name: /etc/hosts here (no DNS on an air-gapped host is expected)
            infos = socket.getaddrinfo(name, None)
        except OSError:
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return bool(addresses) and all(
        address.is_loopback
        or bool(
            isinstance(address, ipaddress.IPv6Address)
            and address.ipv4_mapped
            and address.ipv4_mapped.is_loopback
        )
        for address in addresses
    )


def check_listener(host: str, server: ServerSettings, *, insecure_http: bool) -> None:
    """Refuse plain HTTP on anything but loopback unless the operator said so explicitly."""
    if server.tls_cert_file or insecure_http or is_loopback_host(host):
        return
    raise ConfigError(
        f"refusing to serve plain HTTP on {host}: bearer tokens and patient data would "
        "cross the network unencrypted",
        remedy="set server.tls_cert_file and server.tls_key_file (TLS), or listen on "
        "127.0.0.1 behind a TLS reverse proxy, or pass --insecure-http to accept plain "
        "HTTP on this network",
    )


def open_for_serving(settings: Settings) -> Appliance:
    """Open the appliance a server will own: snapshot temp files left by a crashed write
    are removed first (when no other appliance process holds the data dir) and audited."""
    removed = remove_stale_snapshot_temps(settings.data_dir)
    app = open_appliance(settings)
    if removed:
        app.audit.append(
            actor=Actor.operator(),
            action="index.temp_files_removed",
            outcome="ok",
            details={"count": removed},
        )
    log.info(
        "index.temp_files_swept",
        removed=removed if removed is not None else 0,
        skipped=removed is None,
    )
    return app


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    policies_dir: Path | None = None,
    on_ready: Callable[[ApiServices, str], None] | None = None,
    insecure_http: bool = False,
) -> None:
    """Serve until SIGTERM/SIGINT: drain requests, snapshot indexes, audit the stop."""
    check_listener(host, settings.server, insecure_http=insecure_http)
    plain_network_http = not settings.server.tls_cert_file and not is_loopback_host(host)
    if plain_network_http:
        log.warning("server.insecure_http", host=host, port=port)
    app = open_for_serving(settings)
    state = build_state(app, policies_dir=policies_dir)
    app.indexes.start_periodic_snapshots()  # a crash then costs only the tail to reconcile
    stop = threading.Event()

    def watchdog() -> None:
        interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 2_000_000
        while interval > 0 and not stop.wait(interval):
            if not state.readiness.problems():
                notify("WATCHDOG=1")

    def maintenance() -> None:
        # erasures made by other processes (CLI, retention timer) and due KEK shreds
        while not stop.wait(settings.keys.check_interval_seconds):
            try:
                app.maintain()
            except Exception as exc:  # keep serving; the next tick retries
                log.error("maintenance.failed", error=type(exc).__name__)

    def started() -> None:
        app.audit.append(
            actor=Actor.operator(),
            action="appliance.start",
            outcome="ok",
            details={
                "space": state.encoders.space_version if state.encoders else "",
                "tls": bool(settings.server.tls_cert_file),
                "insecure_http": plain_network_http,
            },
        )
        notify("READY=1")
        threading.Thread(target=watchdog, name="watchdog", daemon=True).start()
        threading.Thread(target=maintenance, name="maintenance", daemon=True).start()
        if on_ready is not None:
            on_ready(state, served_url)

    failures: list[str] = []

    def stopping() -> None:
        notify("STOPPING=1")
        stop.set()

        def close_encoders() -> None:
            if state.encoders is not None:
                state.encoders.close()  # type: ignore[attr-defined]

        def audit_stop() -> None:
            app.audit.append(actor=Actor.operator(), action="appliance.stop", outcome="ok")

        steps: list[tuple[str, Callable[[], None]]] = [
            ("stop the encoders", close_encoders),
            ("audit the stop", audit_stop),
            ("stop the periodic snapshots", app.indexes.stop_periodic_snapshots),
            ("snapshot the indexes and close the store", app.close),
        ]
        for what, step in steps:  # each step runs even when an earlier one failed
            try:
                step()
            except Exception as exc:  # a read-only or full disk: say so, never a traceback
                failures.append(f"could not {what}: {_describe(exc)}")
                log.error("appliance.stop_failed", step=what, error=_describe(exc))
        if failures:
            # uvicorn re-raises the captured SIGTERM after shutdown, which would end the
            # process before the failure is reported; report it and exit non-zero instead
            server._captured_signals.clear()

    api = create_app(
        state, on_startup=[started], on_shutdown=[stopping], **api_limits(settings.api)
    )
    config = uvicorn_config(api, settings.server, host=host, port=port)
    listener = config.bind_socket()  # listening before READY=1 and the banner, so both
    listener.listen(2048)  # name the address really served (port 0: the one given)
    served_url = listen_url(listener, tls=bool(settings.server.tls_cert_file))
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()
    if failures:
        raise ApplianceError(
            "shutdown was incomplete: " + "; ".join(failures),
            remedy="make the data directory writable (free disk space), then start the "
            "appliance: it rebuilds indexes and re-checks the audit trail on open",
        )


def listen_url(listener: socket.socket, *, tls: bool) -> str:
    """``scheme://host:port`` of a bound listening socket (IPv6 hosts in brackets)."""
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def _describe(exc: BaseException) -> str:
    """One line naming an error without a traceback (message, or OS reason)."""
    if isinstance(exc, ApplianceError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}" + (
            f": {exc.filename}" if exc.filename else ""
        )
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def api_limits(api: ApiSettings) -> dict[str, Any]:
    """``create_app``'s rate-limit and lockout options from the ``[api]`` settings."""
    return {
        "requests_per_second": api.requests_per_minute_per_token / 60.0,
        "burst": api.request_burst_per_token,
        "failures_per_minute": api.auth_failures_per_minute,
        "lockout_seconds": api.lockout_seconds,
    }


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
        log_config=None,  # uvicorn's records propagate to the root JSON handler
        access_log=False,  # request lines would carry paths such as /v1/subjects/{id}
        lifespan="on",
        timeout_graceful_shutdown=30,
        **tls,
    )
