"""The last risk-audit verdict per limit, and the gate ingestion consults.

``appliance risk audit`` records, for every ``[[risk_limits]]`` entry it judged, whether the
measured risk (with the limit's defence applied) stayed under the limit. The verdicts live
in ``<data dir>/risk-verdicts.json`` (0600, replaced atomically) and in the signed audit
trail (``risk.verdict``). Ingestion asks ``RiskGate.check`` for each admitted item: an item
of a limit's modality that hits one of its categories is refused while that limit's last
verdict is a fail (``block = "on_fail"``), or while no audit has passed it yet
(``block = "until_pass"``). A passing audit re-opens it. An unreadable verdict file fails
closed: every blocking limit refuses until the file is repaired or an audit rewrites it.

The gate judges what is actually encoded (``encoded_categories``): the categories of the
content's findings that the admission's de-identification left in the payload, so a note
whose names Safe Harbor redacted (or the ``redact_before_encode`` defence removed before
encoding) passes a failed canary limit and one that keeps them does not.
``/v1/embeddings`` consults the same gate (``RiskAuditFailedError``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.errors import ApplianceError
from appliance.policy.model import RiskLimit

VERDICTS_FILE = "risk-verdicts.json"
_AUDIT_COMMANDS = {
    "canary_recovery": "`appliance risk inversion`",
    "membership_auc": "`appliance risk membership --pairs PAIRS --modality {m}`",
    "": "`appliance risk audit --manifest PROBE` on a {m} probe set",
}
"""The command that measures each metric (and so can pass a failed limit again)."""
BLOCKED_CODE = "risk_audit_failed"


@dataclass(frozen=True)
class RiskBlock:
    """Why an item may not be ingested now, with what to do about it."""

    limit: str
    message: str
    remedy: str
    code: str = BLOCKED_CODE

    def error(self) -> dict[str, str]:
        """The item's error object in the ingest reply (the API's item error carries code
        and message only, so the message ends with the remedy)."""
        message = f"{self.message}. Remedy: {self.remedy}"
        return {"code": self.code, "message": message, "remedy": self.remedy}


class RiskAuditFailedError(ApplianceError):
    """A failed (or never passed) risk audit blocks this input's category (HTTP 403)."""

    code = "risk_audit_failed"


class RiskCheck(Protocol):
    """What the ingest flow needs: may an item of this modality and categories go in?"""

    def check(self, modality: str, categories: Sequence[str]) -> RiskBlock | None: ...


class CategoriesOf(Protocol):
    """The policy's mapping from findings to the categories in force."""

    def categories_hit(self, findings: Sequence[Finding]) -> tuple[str, ...]: ...


def encoded_findings(
    modality: Modality,
    findings: Sequence[Finding],
    deidentified: bool,
    redacted: Collection[str] = (),
) -> tuple[Finding, ...]:
    """The content findings still present in what gets encoded. De-identified text had
    every located finding replaced by ``[KIND]`` (``admission.redact_text``): only findings
    without a span remain; the ``redact_before_encode`` defence did the same for the located
    findings of the kinds in ``redacted``. A de-identified DICOM lost its PHI header
    attributes; faces, voices and burned-in text are never removed (admission refuses what
    it cannot clean)."""
    if modality is Modality.TEXT:
        return tuple(
            f
            for f in findings
            if not (
                "start" in f.location
                and "end" in f.location
                and (deidentified or f.kind.value in redacted)
            )
        )
    if not deidentified:
        return tuple(findings)
    return tuple(f for f in findings if f.kind is not FindingKind.DICOM_PHI_TAG)


def encoded_categories(
    policy: CategoriesOf,
    modality: Modality,
    findings: Sequence[Finding],
    notes: Mapping[str, Any],
) -> tuple[str, ...]:
    """The categories the encoded payload still carries (``notes``: the admission's, whose
    ``deidentified`` entry says a de-identification obligation rewrote the payload and whose
    ``redacted_before_encode`` entry lists the kinds the input defence removed). The item's
    metadata and id are never encoded, so their findings do not count here."""
    redacted = tuple(notes.get("redacted_before_encode", ()))
    remaining = encoded_findings(modality, findings, "deidentified" in notes, redacted)
    return policy.categories_hit(remaining) if remaining else ()


class VerdictStore:
    """``risk-verdicts.json``: limit id -> the last verdict (figures and references only)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[float, int, dict[str, dict[str, Any]]] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> VerdictStore:
        """The store of an appliance's data directory."""
        return cls(Path(data_dir) / VERDICTS_FILE)

    def load(self) -> dict[str, dict[str, Any]]:
        """Every recorded verdict; ``{}`` when no audit ran; ``ValueError`` when unreadable."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        if self._cache and self._cache[:2] == (stat.st_mtime, stat.st_size):
            return self._cache[2]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path}: unreadable ({exc})") from exc
        verdicts = data.get("verdicts") if isinstance(data, dict) else None
        if not isinstance(verdicts, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("passed"), bool | None)
            for v in verdicts.values()
        ):
            raise ValueError(f"{self.path}: not a verdict file")
        self._cache = (stat.st_mtime, stat.st_size, verdicts)
        return verdicts

    def record(self, verdicts: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge ``verdicts`` (limit id -> verdict) into the file, atomically."""
        try:
            current = self.load()
        except ValueError:
            current = {}  # an audit rewrites a damaged file from its own verdicts
        merged = {**current, **{k: dict(v) for k, v in verdicts.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".risk-verdicts.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"format": "risk-verdicts/1", "verdicts": merged}, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).chmod(0o600)
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._cache = None


class RiskGate:
    """Refuses items whose category a failed (or never passed) risk audit blocks."""

    def __init__(self, limits: Sequence[RiskLimit], store: VerdictStore) -> None:
        self._limits = [limit for limit in limits if limit.block != "never"]
        self._store = store

    def check(self, modality: str, categories: Sequence[str]) -> RiskBlock | None:
        """``None`` when the item may go in; else the first limit that blocks it."""
        covering = [limit for limit in self._limits if limit.covers(modality, categories)]
        if not covering:
            return None
        try:
            verdicts = self._store.load()
        except ValueError as exc:
            return RiskBlock(
                covering[0].id,
                f"{modality} input in {', '.join(covering[0].categories)} refused: the risk "
                f"audit verdicts cannot be read ({exc})",
                "rerun `appliance risk audit` for this modality (it rewrites the verdicts)",
            )
        for limit in covering:
            verdict = verdicts.get(limit.id)
            command = _AUDIT_COMMANDS.get(limit.metric, _AUDIT_COMMANDS[""])
            rerun = (
                f"apply a stronger defence for {limit.id} in the site policy (now "
                f"{limit.defence_label()}) and rerun {command.format(m=limit.modality)} "
                "until it passes"
            )
            if verdict is None:
                if limit.block == "until_pass":
                    return RiskBlock(
                        limit.id,
                        f"{modality} input refused: no risk audit has passed limit {limit.id} "
                        f"({limit.title}) yet",
                        f"run {command.format(m=limit.modality)}",
                    )
                continue
            if verdict.get("passed") is False:
                return RiskBlock(
                    limit.id,
                    f"{modality} input refused: the last risk audit failed limit {limit.id} "
                    f"({verdict.get('metric')} {verdict.get('value')} > max "
                    f"{verdict.get('max')} with {verdict.get('defence')}; audit entry "
                    f"{verdict.get('audit_seq')})",
                    rerun,
                )
        return None
