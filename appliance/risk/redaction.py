"""The ``redact_before_encode`` defence as the risk audit applies it to attacked text: the
appliance's own text detector locates the identifiers and ``admission.redact_for_encoding``
replaces those of the defence's kinds, exactly as ``admission.admit`` does before the
encoder, so the audit attacks the text the appliance would really embed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from appliance.domain.types import Modality
from appliance.risk.policy import DIRECT_IDENTIFIER_KINDS, redaction_level
from appliance.settings import EncoderSettings


def detector_rewrite(
    kinds: Sequence[str] | None, settings: EncoderSettings | None = None
) -> Callable[[str], str]:
    """Text -> the text the encoder sees under ``redact_before_encode`` with ``kinds``
    (None: every located kind), through the real detector (``settings``: the appliance's
    encoder settings, CPU by default)."""
    from appliance.detectors import detect
    from appliance.services.admission import redact_for_encoding, redaction_kinds

    wanted = redaction_kinds({"kinds": list(kinds)} if kinds else {})
    chosen = settings or EncoderSettings(device="cpu", warmup=False)

    def rewrite(text: str) -> str:
        found = detect(Modality.TEXT, text, settings=chosen)
        return redact_for_encoding(text, found.findings, wanted)[0]

    return rewrite


def redaction_rows(
    required: Sequence[tuple[str, ...] | None],
    settings: EncoderSettings | None = None,
    shipped: Sequence[str] = DIRECT_IDENTIFIER_KINDS,
) -> list[tuple[str, Callable[[str], str]]]:
    """The sweep's ``redact_before_encode`` rows: the kinds the policy's limits require
    (``required``), and the shipped kinds when none does; the shipped level is labelled."""
    wanted = list(required) or [tuple(sorted(shipped))]
    rows = []
    for kinds in wanted:
        level = redaction_level(kinds)
        if kinds is not None and sorted(kinds) == sorted(shipped):
            level += " (shipped)"
        rows.append((level, detector_rewrite(kinds, settings)))
    return rows
