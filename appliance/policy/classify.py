"""Classify one input: recognise its modality, run the detectors, decide under a context.

Shared by ``appliance policy check``, ``appliance inventory`` and the API's dry run
(``POST /v1/classify``). Nothing is stored and no content leaves this function: the
result holds finding kinds and locations, facts (sizes, formats, durations), and the
decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.domain.findings import Finding
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.policy.decisions import ConsentState, Decision, RequestContext
from appliance.policy.engine import PolicyEngine
from appliance.settings import EncoderSettings

if TYPE_CHECKING:
    from appliance.detectors.registry import DetectorRegistry

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".csv", ".tsv", ".json", ".xml", ".hl7"})


def guess_modality(data: bytes, suffix: str = "") -> tuple[Modality, str] | None:
    """``(modality, format)`` from the bytes (magic numbers first, then UTF-8 text)."""
    from appliance.encoders.sniff import sniff

    found = sniff(data)
    if found is not None:
        kind, fmt = found
        return (Modality(kind), fmt) if kind in ("image", "audio") else None
    if b"\x00" in data[:4096]:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fmt = suffix.lower().lstrip(".") or "txt"
    return Modality.TEXT, fmt if suffix.lower() in TEXT_SUFFIXES else "txt"


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """JSON form of a finding: kind, detector, modality, score, location (never content)."""
    return {
        "kind": finding.kind.value,
        "detector": finding.detector,
        "modality": finding.modality.value,
        "score": round(float(finding.score), 4),
        "location": dict(finding.location),
    }


def facts_of(report: Any) -> dict[str, Any]:
    """The detection report's facts as a plain dict (whatever shape the report uses)."""
    facts = getattr(report, "facts", None)
    if facts is None:
        return {}
    if dataclasses.is_dataclass(facts) and not isinstance(facts, type):
        facts = dataclasses.asdict(facts)
    if isinstance(facts, Mapping):
        return {str(k): v for k, v in facts.items() if v is not None}
    return {}


@dataclass(frozen=True)
class Classification:
    """What one input is, what the detectors found in it, and what the policy decides."""

    modality: Modality
    format: str
    size_bytes: int
    findings: tuple[Finding, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: modality, format, facts, findings, categories, regimes, decision."""
        decision = self.decision
        return {
            "modality": self.modality.value,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "facts": _jsonable(self.facts),
            "findings": [finding_to_dict(f) for f in self.findings],
            "categories": list(decision.categories) if decision else [],
            "regimes": list(decision.regimes) if decision else [],
            "decision": decision.to_dict() if decision else None,
        }


def classify(
    data: bytes,
    *,
    engine: PolicyEngine,
    context: RequestContext,
    encoder_settings: EncoderSettings,
    modality: Modality | None = None,
    suffix: str = "",
    consents: ConsentState | None = None,
    now: datetime | None = None,
    detectors: DetectorRegistry | None = None,
) -> Classification:
    """Detect and decide on one input (bytes; text as UTF-8). ``InvalidInputError`` when
    the input is of no supported kind or a decoder refuses it. ``detectors``: the registry
    the composition root injected (default: the process's, for one-shot CLI runs)."""
    from appliance.detectors import detect

    guessed = guess_modality(data, suffix)
    if modality is None:
        if guessed is None:
            raise InvalidInputError(
                "not a supported input: not UTF-8 text, nor a known image or audio format",
                remedy="send text, PNG/JPEG/DICOM/... images or WAV/FLAC/... audio",
            )
        modality = guessed[0]
    fmt = guessed[1] if guessed is not None and guessed[0] is modality else "unknown"
    payload: bytes | str = data.decode("utf-8") if modality is Modality.TEXT else data
    report = detect(modality, payload, settings=encoder_settings, registry=detectors)
    found: Sequence[Finding] = tuple(report.findings)
    context = dataclasses.replace(context, modality=modality)
    decision = engine.decide(found, context, consents, now)
    facts = facts_of(report)
    fmt = str(facts.get("format") or fmt)
    return Classification(modality, fmt, len(data), tuple(found), facts, decision)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
