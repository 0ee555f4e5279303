"""Fixtures for the detector tests: detectors loaded once per session, a socket guard."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from appliance.detectors import DetectorRegistry, TextDetector
from appliance.settings import EncoderSettings


@pytest.fixture(scope="session")
def registry() -> DetectorRegistry:
    """One registry (so one Presidio engine, one cascade set, one VAD) for the session."""
    return DetectorRegistry()


@pytest.fixture(scope="session")
def text_detector(registry: DetectorRegistry) -> TextDetector:
    """The loaded text PHI detector."""
    return registry.text()


@pytest.fixture(scope="session")
def encoder_settings() -> EncoderSettings:
    """Default input bounds."""
    return EncoderSettings(device="cpu")


class NetworkBlockedError(AssertionError):
    """Raised by the socket guard when code tries to open a connection."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every attempt to connect or resolve a name raises; attempts are recorded."""
    attempts: list[str] = []

    def refuse(*args: object, **_: object) -> None:
        attempts.append(repr(args[1:] if len(args) > 1 else args))
        raise NetworkBlockedError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
