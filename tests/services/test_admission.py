"""From a decision to what may be embedded: refuse, redact, de-identify, defend."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.policy.decisions import (
    ApplyDefence,
    Decision,
    Deny,
    Outcome,
    Reason,
    RequireConsent,
    RequireDeidentification,
)
from appliance.services.admission import admit, redact_text
from appliance.services.defences import UnknownDefenceError, apply_defences, input_rng

NOTE = "Seen John Smith on 03/04/2025 for chest pain."


def _decision(*obligations: object, outcome: Outcome = Outcome.ALLOW_WITH_OBLIGATIONS) -> Decision:
    return Decision(
        outcome=outcome,
        obligations=tuple(obligations),  # type: ignore[arg-type]
        categories=("hipaa.names",),
        regimes=("hipaa",),
        reasons=(Reason("r1", "45 CFR 164.514", "test rule"),),
        policy_hash="0" * 64,
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _finding(kind: FindingKind, start: int, end: int) -> Finding:
    return Finding(kind, "test", Modality.TEXT, 1.0, {"start": start, "end": end})


FINDINGS = (
    _finding(FindingKind.PERSON_NAME, 5, 15),
    _finding(FindingKind.DATE, 19, 29),
)


def test_redaction_replaces_each_located_identifier() -> None:
    """Safe Harbor redaction swaps every located span for its kind label."""
    assert redact_text(NOTE, FINDINGS) == "Seen [PERSON_NAME] on [DATE] for chest pain."


def test_deny_and_missing_consent_refuse() -> None:
    """A deny obligation or an unmet consent requirement refuses the input with a reason."""
    denied = admit(_decision(Deny("visitor biometrics")), Modality.TEXT, NOTE, FINDINGS)
    assert not denied.allowed and "visitor biometrics" in denied.reasons[0]
    unmet = admit(
        _decision(RequireConsent(("bipa.voiceprint",), satisfied=False)),
        Modality.TEXT,
        NOTE,
        FINDINGS,
    )
    assert not unmet.allowed and "bipa.voiceprint" in unmet.reasons[0]
    met = admit(
        _decision(RequireConsent(("bipa.voiceprint",), satisfied=True)),
        Modality.TEXT,
        NOTE,
        FINDINGS,
    )
    assert met.allowed


def test_text_deidentification_embeds_the_redacted_text() -> None:
    """A de-identification obligation on text admits the redacted text, not the original."""
    result = admit(_decision(RequireDeidentification("safe_harbor")), Modality.TEXT, NOTE, FINDINGS)
    assert result.allowed and "John" not in str(result.payload)
    assert result.notes["deidentified"] == "safe_harbor"


def test_faces_and_voices_cannot_be_deidentified() -> None:
    """A photo with a face or speech under a de-identification obligation is refused."""
    face = Finding(FindingKind.FACE, "faces", Modality.IMAGE, 1.0, {"box": [0, 0, 5, 5]})
    result = admit(
        _decision(RequireDeidentification("safe_harbor")), Modality.IMAGE, b"\x89PNG", [face]
    )
    assert not result.allowed
    voice = Finding(FindingKind.SPEECH, "speech", Modality.AUDIO, 1.0, {})
    result = admit(
        _decision(RequireDeidentification("safe_harbor")), Modality.AUDIO, b"RIFF", [voice]
    )
    assert not result.allowed


def test_defences_are_carried_and_unknown_ones_refuse() -> None:
    """Known defences are passed on; an unknown defence name refuses (fail closed)."""
    known = admit(
        _decision(ApplyDefence("gaussian_noise", (("sigma", 0.05),))), Modality.TEXT, NOTE, []
    )
    assert known.allowed and known.defences == (("gaussian_noise", {"sigma": 0.05}),)
    unknown = admit(_decision(ApplyDefence("magic")), Modality.TEXT, NOTE, [])
    assert not unknown.allowed


def test_gaussian_noise_moves_vectors_but_keeps_them_unit_length() -> None:
    """The noise defence perturbs each vector and re-normalises it."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    defended = apply_defences(vectors, [("gaussian_noise", {"sigma": 0.05})], rng)
    assert np.allclose(np.linalg.norm(defended, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(defended, vectors)
    assert np.all(np.sum(defended * vectors, axis=1) > 0.8)
    with pytest.raises(UnknownDefenceError):
        apply_defences(vectors, [("nope", {})], rng)


def _noise(key: bytes, payload: bytes | str, space: str = "space-1") -> np.ndarray:
    """The noise the defence adds to a fixed unit vector for ``payload``."""
    clean = np.zeros((1, 64), dtype=np.float32)
    clean[0, 0] = 1.0
    rng = input_rng(key, space, "text", payload)
    return apply_defences(clean, [("gaussian_noise", {"sigma": 0.05})], rng)[0] - clean[0]


def test_noise_is_fixed_by_a_keyed_hash_of_the_input() -> None:
    """One input always draws the same noise (whitespace runs do not count); another key,
    another space version or another input draws different noise."""
    key = b"a" * 32
    first = _noise(key, "chest pain follow-up")
    assert np.array_equal(first, _noise(key, "chest pain follow-up"))
    assert np.array_equal(first, _noise(key, "  chest   pain\nfollow-up "))
    assert not np.allclose(first, _noise(b"b" * 32, "chest pain follow-up"))
    assert not np.allclose(first, _noise(key, "chest pain follow-up", space="space-2"))
    assert not np.allclose(first, _noise(key, "chest pain follow-up!"))
    assert np.array_equal(_noise(key, b"\x89PNG..."), _noise(key, b"\x89PNG..."))


def test_altered_inputs_draw_independent_noise_the_documented_limit() -> None:
    """The limit of keying noise on the input: 256 altered copies (one character each)
    draw independent noise, so their average does shrink it about 16-fold, while 256
    identical copies do not shrink it at all. docs/security.md states this limit."""
    key = b"a" * 32

    def off_axis(vectors: list[np.ndarray]) -> float:
        """How far the mean strays from the clean direction (axis 0), renormalisation aside."""
        return float(np.linalg.norm(np.mean(vectors, axis=0)[1:]))

    single = off_axis([_noise(key, "chest pain")])
    same = off_axis([_noise(key, "chest pain") for _ in range(256)])
    altered = off_axis([_noise(key, f"chest pain {n}") for n in range(256)])
    assert same == pytest.approx(single)
    assert altered < single / 8
