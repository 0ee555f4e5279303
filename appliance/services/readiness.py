"""Readiness (``/readyz``, the systemd watchdog): named checks, failing closed.

The composition root hands in each check as a callable (models verified, encoders warm,
store answering, directories writable, audit trail started, last audit verification
passed); the HTTP layer only asks this service. A check that raises counts as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from appliance.observability import get_logger

log = get_logger(__name__)

Check = Callable[[], str | None]
"""``None`` when the check passes, else what failed (no internals)."""
Warnings = Callable[[], list[str]]


class ReadinessService:
    """Runs every check; ``problems`` empty means ready."""

    def __init__(
        self, checks: Sequence[tuple[str, Check]], warnings: Sequence[Warnings] = ()
    ) -> None:
        self._checks = list(checks)
        self._warnings = list(warnings)

    def problems(self) -> list[str]:
        """Each failed check as ``name: what failed`` (fail closed on any error)."""
        found: list[str] = []
        for name, check in self._checks:
            try:
                problem = check()
            except Exception as exc:  # any failure of a check means not ready
                problem = type(exc).__name__
            if problem:
                found.append(f"{name}: {problem}")
        return found

    def warnings(self) -> list[str]:
        """Conditions an operator must act on that do not stop serving."""
        found: list[str] = []
        for source in self._warnings:
            try:
                found.extend(source())
            except Exception as exc:  # reported by the checks
                log.warning("readiness.warnings_unavailable", error=type(exc).__name__)
        return found
