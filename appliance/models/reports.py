"""What the store's operations report: imports, verification, readiness."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.models.manifest import SpaceRecord


@dataclass(frozen=True)
class ImportResult:
    """What an import stored: model names, the space it activated, files left behind."""

    models: tuple[str, ...]
    space: SpaceRecord | None
    skipped: tuple[str, ...]
    pack: str = ""


@dataclass(frozen=True)
class ModelCheck:
    """The outcome of re-hashing one model."""

    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every file matched its recorded hash and size."""
        return not self.problems


@dataclass(frozen=True)
class VerifyReport:
    """Every model's check; ``ok`` only if all passed."""

    checks: tuple[ModelCheck, ...]

    @property
    def ok(self) -> bool:
        """True when every model verified."""
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class Readiness:
    """Whether the store can serve its active space now (cheap: no hashing)."""

    ok: bool
    reason: str
    space_version: str = ""
