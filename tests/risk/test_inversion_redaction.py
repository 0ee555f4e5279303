"""The corpus canaries are read from annotated held-out notes, and the real detector's
redaction removes them from the text (the decoder's side: test_risk_inversion.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.risk import corpus_canaries as cc
from appliance.risk.policy import DIRECT_IDENTIFIER_KINDS
from appliance.risk.redaction import detector_rewrite

CORPUS = Path(__file__).resolve().parents[1] / "detectors" / "phi_corpus"


def test_corpus_canaries_come_from_annotated_spans() -> None:
    """Names lose titles and punctuation, ids keep their digits, one canary per value per
    note; redaction by the real detector leaves few of a held-out split's names in the text."""
    assert cc.normalise_name("DR. OCONNELL") == "Oconnell"
    assert cc.normalise_name("Feeney, Margaret A") == "Feeney Margaret"
    assert cc.normalise_name("Dr") is None
    assert cc.normalise_id("#4471-02") == "447102" and cc.normalise_id("ward") is None
    text = "Dr Kim saw Jo Lee; Jo Lee MRN 88123"
    document = {"text": text, "spans": [
        {"start": 3, "end": 6, "kind": "person_name"},
        {"start": 11, "end": 17, "kind": "person_name"},
        {"start": 19, "end": 25, "kind": "person_name"},
        {"start": 30, "end": 35, "kind": "medical_record_number"},
    ]}  # fmt: skip
    found = cc.canaries([document])
    expected = [("name", "Kim"), ("name", "Jo Lee"), ("id", "88123")]
    assert [(c.kind, c.value) for c in found] == expected
    split = CORPUS / "test.jsonl"
    if not split.exists():
        pytest.skip("the held-out PHI corpus is not in this checkout")
    documents = cc.read_split(split)[:12]
    held = cc.canaries(documents)
    rewrite = detector_rewrite(DIRECT_IDENTIFIER_KINDS)
    redacted = [rewrite(d["text"]) for d in documents]
    assert cc.left_in_text([d["text"] for d in documents], held)["name"] == 1.0
    assert cc.left_in_text(redacted, held)["name"] <= 0.2
