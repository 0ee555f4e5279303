"""Invariant 1 (no outbound network): a full ingest and search run under a socket guard.

The guard wraps socket connect/connect_ex/sendto, socket.create_connection, name lookups
and asyncio's create_connection. Loopback and AF_UNIX pass; anything else is recorded and
refused before a packet leaves (the real call is never made). It is installed before the
``served`` fixture starts, so loading the encoders, policies and detectors runs under it too.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.conftest import LiveServer
from tests.api.media import data_uri, png, tone_wav

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
BLACKHOLE = ("10.255.255.1", 9)
CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
PHI_NOTE = (
    "Patient John Smith (MRN 48213377, DOB 03/14/1961, phone 312-555-0142, "
    "john.smith@example.com) seen for chest pain; stable on aspirin."
)


class OutboundBlocked(ConnectionRefusedError):
    """Raised by the guard instead of opening a non-loopback connection."""


def _is_loopback_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name that would need DNS, or garbage
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _is_local(family: int, address: Any) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # AF_UNIX (systemd notify, uvicorn's own plumbing), netlink, ...
    return isinstance(address, tuple) and _is_loopback_host(address[0])


@dataclass
class SocketGuard:
    """Records every refused outbound attempt and counts the loopback ones it let through."""

    attempts: list[tuple[str, Any]] = field(default_factory=list)
    loopback: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, kind: str, target: Any, local: bool) -> bool:
        with self.lock:
            if local:
                self.loopback += 1
            else:
                self.attempts.append((kind, target))
        return local

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_sendto = socket.socket.sendto
        real_create_connection = socket.create_connection
        real_getaddrinfo = socket.getaddrinfo
        real_gethostbyname = socket.gethostbyname
        real_gethostbyaddr = socket.gethostbyaddr
        real_loop_create_connection = asyncio.base_events.BaseEventLoop.create_connection
        guard = self

        def refuse(kind: str, target: Any) -> OutboundBlocked:
            return OutboundBlocked(errno.ECONNREFUSED, f"socket guard: {kind} to {target!r}")

        def connect(sock: socket.socket, address: Any) -> None:
            if not guard.allow("connect", address, _is_local(sock.family, address)):
                raise refuse("connect", address)
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            if not guard.allow("connect_ex", address, _is_local(sock.family, address)):
                return errno.ECONNREFUSED
            return real_connect_ex(sock, address)

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            address = args[-1]
            if not guard.allow("sendto", address, _is_local(sock.family, address)):
                raise refuse("sendto", address)
            return real_sendto(sock, data, *args)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            if not guard.allow("create_connection", address, _is_loopback_host(address[0])):
                raise refuse("create_connection", address)
            return real_create_connection(address, *args, **kwargs)

        def lookup(kind: str, real: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
                local = host is None or _is_loopback_host(host)
                if not guard.allow(kind, host, local):
                    raise socket.gaierror(socket.EAI_NONAME, f"socket guard: {kind} {host!r}")
                return real(host, *args, **kwargs)

            return guarded

        async def loop_create_connection(
            loop: asyncio.AbstractEventLoop,
            protocol_factory: Any,
            host: Any = None,
            port: Any = None,
            **kwargs: Any,
        ) -> Any:
            if host is not None and not guard.allow(
                "asyncio.create_connection", (host, port), _is_loopback_host(host)
            ):
                raise refuse("asyncio.create_connection", (host, port))
            return await real_loop_create_connection(loop, protocol_factory, host, port, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket.socket, "sendto", sendto)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", lookup("getaddrinfo", real_getaddrinfo))
        monkeypatch.setattr(socket, "gethostbyname", lookup("gethostbyname", real_gethostbyname))
        monkeypatch.setattr(socket, "gethostbyaddr", lookup("gethostbyaddr", real_gethostbyaddr))
        monkeypatch.setattr(
            asyncio.base_events.BaseEventLoop, "create_connection", loop_create_connection
        )


@pytest.fixture
def socket_guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    """The guard, installed for the whole test (undone after the server has stopped)."""
    guard = SocketGuard()
    guard.install(monkeypatch)
    return guard


@pytest.fixture
def guarded(socket_guard: SocketGuard, served: LiveServer) -> tuple[SocketGuard, LiveServer]:
    """The served app, started after the guard (requested first), so startup is guarded too."""
    return socket_guard, served


def _items() -> list[dict[str, Any]]:
    return [
        {
            "id": "g-text",
            "subject_id": "MRN-48213377",
            "modality": "text",
            "data": PHI_NOTE,
            "metadata": {"kind": "note"},
            "context": CONTEXT,
        },
        {
            "id": "g-image",
            "subject_id": "MRN-48213377",
            "modality": "image",
            "data": data_uri("image/png", png(7)),
            "metadata": {"kind": "scan"},
            "context": CONTEXT,
        },
        {
            "id": "g-audio",
            "subject_id": "MRN-48213377",
            "modality": "audio",
            "data": data_uri("audio/wav", tone_wav(330.0)),
            "metadata": {"kind": "tone"},
            "context": CONTEXT,
        },
    ]


def _run_flow(served: LiveServer) -> None:
    """Create, ingest (text with PHI, image, audio), search each modality, embed, classify."""
    with (
        served.client("admin") as admin,
        served.client("ingest") as ingest,
        served.client("query") as query,
    ):
        assert admin.post("/v1/collections", json={"name": "guarded"}).status_code == 201
        reply = ingest.post("/v1/collections/guarded/items", json={"items": _items()})
        assert reply.status_code == 200, reply.text
        outcomes = {i["id"]: i for i in reply.json()["items"]}
        assert {i: o["status"] for i, o in outcomes.items()} == {
            "g-text": "stored",
            "g-image": "stored",
            "g-audio": "stored",
        }, outcomes
        # The PHI detectors (Presidio on the text) ran and the policy saw their findings.
        assert outcomes["g-text"]["decision"]["categories"], outcomes["g-text"]
        queries = {
            "text": "chest pain",
            "image": data_uri("image/png", png(7)),
            "audio": data_uri("audio/wav", tone_wav(330.0)),
        }
        for modality, data in queries.items():
            body = {"query": {"modality": modality, "data": data}, "k": 3}
            found = query.post("/v1/collections/guarded/search", json=body)
            assert found.status_code == 200, found.text
            assert {h["id"] for h in found.json()["results"]} == set(outcomes), found.text
        space = query.get("/v1/models").json()["data"][0]["id"]
        for modality, data in queries.items():
            embedded = query.post(
                "/v1/embeddings", json={"model": space, "input": data, "modality": modality}
            )
            assert embedded.status_code == 200, embedded.text
            assert len(embedded.json()["data"][0]["embedding"]) > 0
        classified = query.post(
            "/v1/classify", json={"modality": "text", "data": PHI_NOTE, "context": CONTEXT}
        )
        assert classified.status_code == 200, classified.text
        detectors = {f["detector"] for f in classified.json()["findings"]}
        # The text recognisers ran (e-mail, phone, name), all from local code and word lists.
        assert "text:pattern:email" in detectors, detectors
        assert any(d.startswith("text:pattern:phone") for d in detectors), detectors


def test_full_flow_makes_no_outbound_connection(guarded: tuple[SocketGuard, LiveServer]) -> None:
    """Startup, ingest, search, embeddings and classify attempt no non-loopback connection."""
    guard, served = guarded
    before = guard.loopback
    _run_flow(served)
    assert guard.attempts == []
    assert guard.loopback > before  # the guard saw the flow's own (loopback) connections
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def test_guard_refuses_and_records_outbound_attempts(socket_guard: SocketGuard) -> None:
    """The guard refuses a connect to 10.255.255.1:9 at once (nothing sent) and records it."""
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        with pytest.raises(OutboundBlocked):
            sock.connect(BLACKHOLE)
        assert sock.connect_ex(BLACKHOLE) == errno.ECONNREFUSED
        with pytest.raises(OSError, match=r"not connected|Transport endpoint"):
            sock.getpeername()  # the real connect was never made
    with pytest.raises(OutboundBlocked):
        socket.create_connection(BLACKHOLE, timeout=5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OutboundBlocked):
        udp.sendto(b"x", BLACKHOLE)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(OutboundBlocked):
        asyncio.run(asyncio.open_connection(*BLACKHOLE))
    assert time.monotonic() - started < 1.0  # refused before any packet: no connect timeout
    assert [kind for kind, _ in socket_guard.attempts] == [
        "connect",
        "connect_ex",
        "create_connection",
        "sendto",
        "getaddrinfo",
        "asyncio.create_connection",
    ]
    assert socket_guard.attempts[0] == ("connect", BLACKHOLE)
    with socket.socket() as server:  # loopback still works under the guard
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    assert len(socket_guard.attempts) == 6
