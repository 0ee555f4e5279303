"""The outcome of the last ``audit verify``, kept for readiness (fail closed).

The hourly ``appliance-audit-verify`` timer runs in its own process; it records each
outcome here (``{ok, when, reason}``, written atomically to ``audit-verification.json``
in the data directory), and a serving process's readiness fails while the last recorded
verification failed. No record yet (a fresh install) is not a failure; a record that
cannot be read is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.clock import Clock, isoformat

RECORD_NAME = "audit-verification.json"


@dataclass(frozen=True)
class Verification:
    """One ``audit verify`` outcome: passed or not, when (UTC, ISO 8601), and why not."""

    ok: bool
    when: str
    reason: str = ""


class AuditHealth:
    """Records verification outcomes and says whether the last one failed."""

    def __init__(self, data_dir: Path, clock: Clock) -> None:
        self._path = Path(data_dir) / RECORD_NAME
        self._clock = clock

    def record(self, ok: bool, reason: str = "") -> Verification:
        """Store the outcome of a verification run (replacing the previous one)."""
        outcome = Verification(ok=ok, when=isoformat(self._clock.now()), reason=reason[:500])
        temporary = self._path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(outcome), handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self._path)
        return outcome

    def last(self) -> Verification | None:
        """The last recorded outcome; ``None`` when no verification ran yet."""
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return Verification(ok=False, when="", reason="the verification record is unreadable")
        if not isinstance(raw, dict) or not isinstance(raw.get("ok"), bool):
            return Verification(ok=False, when="", reason="the verification record is malformed")
        return Verification(
            ok=raw["ok"], when=str(raw.get("when", "")), reason=str(raw.get("reason", ""))
        )

    def problem(self) -> str | None:
        """A readiness problem when the last verification failed, else ``None``."""
        last = self.last()
        if last is None or last.ok:
            return None
        when = f" at {last.when}" if last.when else ""
        return f"last verification{when} failed: {last.reason or 'trail broken'}"
