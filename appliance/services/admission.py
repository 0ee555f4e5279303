"""From a policy decision to what may be embedded: refuse, de-identify, defend.

Shared by ingest and ``/v1/embeddings``. A decision is admitted only when every
obligation can be honoured here; anything we cannot honour refuses the input (fail
closed) with a reason a client can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.domain.findings import Finding
from appliance.domain.types import Modality
from appliance.policy.decisions import (
    ApplyDefence,
    Decision,
    Deny,
    RequireConsent,
    RequireDeidentification,
)
from appliance.services.defences import DEFENCES


@dataclass(frozen=True)
class Admission:
    """Whether the input may be embedded, the payload to embed, and defences to apply."""

    allowed: bool
    payload: bytes | str | None
    defences: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    reasons: tuple[str, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)


def redact_text(text: str, findings: Sequence[Finding]) -> str:
    """Replace every located identifier with ``[KIND]`` (HIPAA Safe Harbor removal)."""
    spans = sorted(
        (int(f.location["start"]), int(f.location["end"]), f.kind.value.upper())
        for f in findings
        if "start" in f.location and "end" in f.location
    )
    out: list[str] = []
    cursor = 0
    for start, end, label in spans:
        if end <= cursor:
            continue
        start = max(start, cursor)
        out.append(text[cursor:start])
        out.append(f"[{label}]")
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def admit(
    decision: Decision,
    modality: Modality,
    payload: bytes | str,
    findings: Sequence[Finding],
    *,
    dicom_uid_key: bytes | None = None,
) -> Admission:
    """Apply the decision's obligations to one input (``dicom_uid_key`` keeps replaced
    DICOM UIDs stable across restarts)."""
    reasons = [r.text for r in decision.reasons]
    for obligation in decision.obligations:
        if isinstance(obligation, Deny):
            return Admission(False, None, reasons=(obligation.reason, *reasons))
        if isinstance(obligation, RequireConsent) and not obligation.satisfied:
            missing = ", ".join(obligation.categories)
            return Admission(
                False, None, reasons=(f"consent required and not on record for: {missing}",)
            )
    if not decision.allowed:
        return Admission(False, None, reasons=tuple(reasons) or ("denied by policy",))
    notes: dict[str, Any] = {}
    for obligation in decision.obligations:
        if not isinstance(obligation, RequireDeidentification):
            continue
        # nothing found in the content itself (the obligation came from its metadata or
        # id): nothing to remove from it
        cleaned = _deidentify(modality, payload, findings, dicom_uid_key) if findings else payload
        if cleaned is None:
            return Admission(
                False,
                None,
                reasons=(
                    f"de-identification ({obligation.method}) is required and not possible "
                    f"for this {modality.value} input",
                ),
            )
        payload = cleaned
        notes["deidentified"] = obligation.method
    defences = tuple(
        (o.name, dict(o.params)) for o in decision.obligations if isinstance(o, ApplyDefence)
    )
    unknown = [name for name, _ in defences if name not in DEFENCES]
    if unknown:
        return Admission(
            False, None, reasons=(f"policy requires unavailable defence(s): {', '.join(unknown)}",)
        )
    if defences:
        notes["defences"] = [name for name, _ in defences]
    return Admission(True, payload, defences, tuple(reasons), notes)


def _deidentify(
    modality: Modality, payload: bytes | str, findings: Sequence[Finding], uid_key: bytes | None
) -> bytes | str | None:
    if modality is Modality.TEXT and isinstance(payload, str):
        return redact_text(payload, findings)
    if any(f.kind.value == "burned_in_annotation" for f in findings):
        return None  # identifiers burned into the pixels cannot be removed from the header
    if modality is Modality.IMAGE and isinstance(payload, bytes) and _is_dicom(payload):
        from appliance.detectors import deidentify_dicom

        return deidentify_dicom(payload, uid_key=uid_key)
    if modality is Modality.IMAGE and not any(f.kind.value == "face" for f in findings):
        return payload  # nothing identifying was found in the picture itself
    return None  # faces in photographs, voices: no de-identification we can stand behind


def _is_dicom(data: bytes) -> bool:
    return len(data) > 132 and data[128:132] == b"DICM"
