"""From a policy decision to what may be embedded: refuse, de-identify, defend.

Shared by ingest, ``/v1/embeddings`` and search queries. A decision is admitted only when
every obligation can be honoured here; anything we cannot honour refuses the input (fail
closed) with a reason a client can act on. Input defences (``redact_before_encode``)
rewrite the payload here, before the encoder; vector defences are returned for the caller
to apply to the vector (``Admission.defences``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.policy.decisions import (
    ApplyDefence,
    Decision,
    Deny,
    RequireConsent,
    RequireDeidentification,
)
from appliance.services.defences import DEFENCES, INPUT_DEFENCES, REDACT_BEFORE_ENCODE


@dataclass(frozen=True)
class Admission:
    """Whether the input may be embedded, the payload to embed (input defences already
    applied), and the vector defences to apply to its embedding."""

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
    requested = [
        (o.name, dict(o.params)) for o in decision.obligations if isinstance(o, ApplyDefence)
    ]
    unknown = [n for n, _ in requested if n not in DEFENCES and n not in INPUT_DEFENCES]
    if unknown:
        return Admission(
            False, None, reasons=(f"policy requires unavailable defence(s): {', '.join(unknown)}",)
        )
    inputs = [params for name, params in requested if name == REDACT_BEFORE_ENCODE]
    if inputs:
        # several rules may ask with different kinds: one pass over the original spans
        rewritten = _redact_before_encode(modality, payload, findings, inputs, notes)
        if isinstance(rewritten, Refusal):
            return Admission(False, None, reasons=(rewritten.reason,))
        payload = rewritten
    defences = tuple((n, p) for n, p in requested if n in DEFENCES)
    if requested:
        notes["defences"] = [name for name, _ in requested]
    return Admission(True, payload, defences, tuple(reasons), notes)


@dataclass(frozen=True)
class Refusal:
    """Why an input defence cannot be honoured for this input."""

    reason: str


def redaction_kinds(params: Mapping[str, Any]) -> frozenset[FindingKind] | None:
    """The finding kinds ``redact_before_encode`` removes (``None``: every located kind);
    ``ValueError`` for a kind that does not exist."""
    kinds = params.get("kinds")
    if kinds is None:
        return None
    if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds):
        raise ValueError("kinds must be a list of finding kinds")
    known = {k.value for k in FindingKind}
    bad = [k for k in kinds if k not in known]
    if bad:
        raise ValueError(f"unknown finding kind(s) {', '.join(bad)}")
    return frozenset(FindingKind(k) for k in kinds)


def targeted(findings: Sequence[Finding], kinds: frozenset[FindingKind] | None) -> list[Finding]:
    """The findings an input defence with ``kinds`` is about (every kind when ``None``)."""
    return [f for f in findings if kinds is None or f.kind in kinds]


def _located(finding: Finding) -> bool:
    return "start" in finding.location and "end" in finding.location


def redact_for_encoding(
    text: str, findings: Sequence[Finding], kinds: frozenset[FindingKind] | None
) -> tuple[str, tuple[str, ...]]:
    """``text`` with every located finding of ``kinds`` replaced by ``[KIND]``, and the
    kinds so removed (what the encoder then never sees)."""
    chosen = [f for f in targeted(findings, kinds) if _located(f)]
    return redact_text(text, chosen), tuple(sorted({f.kind.value for f in chosen}))


def _redact_before_encode(
    modality: Modality,
    payload: bytes | str,
    findings: Sequence[Finding],
    requests: Sequence[Mapping[str, Any]],
    notes: dict[str, Any],
) -> bytes | str | Refusal:
    """Apply ``redact_before_encode`` (the union of the kinds ``requests`` name) to the
    payload about to be encoded. Text: the located findings of those kinds are replaced by
    ``[KIND]`` (after a Safe Harbor de-identification there is nothing left to remove).
    Image and audio: nothing can be cut out of the signal, so the input is refused when its
    content has a finding of those kinds that de-identification did not already remove, and
    passes unchanged when it has none (the findings then came from metadata or the id,
    which are never encoded)."""
    try:
        chosen = [redaction_kinds(params) for params in requests]
    except ValueError as exc:
        return Refusal(f"policy defence {REDACT_BEFORE_ENCODE}: {exc}")
    kinds = None if any(k is None for k in chosen) else frozenset().union(*chosen)
    if modality is Modality.TEXT and isinstance(payload, str):
        if "deidentified" in notes:
            removed = tuple(sorted({f.kind.value for f in findings if _located(f)}))
            rewritten = payload
        else:
            rewritten, removed = redact_for_encoding(payload, findings, kinds)
        notes["redacted_before_encode"] = list(removed)
        return rewritten
    left = [
        f
        for f in targeted(findings, kinds)
        if not ("deidentified" in notes and f.kind is FindingKind.DICOM_PHI_TAG)
    ]
    if left:
        found = ", ".join(sorted({f.kind.value for f in left}))
        return Refusal(
            f"policy requires {REDACT_BEFORE_ENCODE} and {found} cannot be removed from "
            f"this {modality.value} input before encoding"
        )
    return payload


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
