"""The screening cache: a repeated input is not detected twice, and the cache is no leak."""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import pytest

from appliance.domain.types import Modality
from appliance.policy import PolicyEngine, RequestContext
from appliance.policy.loader import default_policies_dir
from appliance.services.screening import Screening
from appliance.wiring import Appliance

TREATMENT = RequestContext("patient", "treatment")
RESEARCH = RequestContext("patient", "research")
PHI_NOTE = "Patient Jonathan Quackenbush, MRN 77341982, phone 312-555-0148, seen for chest pain."
CLEAN_NOTE = "Follow-up for chest pain, stable on aspirin."
IDENTIFIERS = ("Jonathan", "Quackenbush", "77341982", "555-0148", "chest pain")


def _screening(appliance: Appliance, policy: PolicyEngine, **kwargs: object) -> Screening:
    return Screening(
        policy=policy,
        consent=appliance.consent,
        encoder_settings=appliance.settings.encoders,
        clock=appliance.clock,
        noise_key=b"k" * 32,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def shipped() -> PolicyEngine:
    """The shipped policies."""
    return PolicyEngine.load()


def test_a_repeated_input_is_detected_once_with_the_same_outcome(
    appliance: Appliance, shipped: PolicyEngine
) -> None:
    """The second screening of an input hits the cache (the detector is not run again) and
    gives the same findings, decision and admission; a new context is decided anew."""
    calls: list[str] = []
    screening = _screening(appliance, shipped)
    import appliance.detectors as detectors

    real = detectors.detect

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("detect")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detectors, "detect", counting)
        first = screening.screen(Modality.TEXT, PHI_NOTE, TREATMENT)
        second = screening.screen(Modality.TEXT, PHI_NOTE, TREATMENT)
        research = screening.screen(Modality.TEXT, PHI_NOTE, RESEARCH)
    assert calls == ["detect"]
    assert second.classification.findings == first.classification.findings
    assert second.classification.decision.outcome == first.classification.decision.outcome  # type: ignore[union-attr]
    assert second.admission.payload == first.admission.payload != PHI_NOTE
    assert "Quackenbush" not in str(first.admission.payload)  # redact_before_encode
    assert "deidentified" not in first.admission.notes
    assert research.admission.notes["deidentified"] == "safe_harbor"  # decided anew
    assert "Quackenbush" not in str(research.admission.payload)
    stats = screening.cache_stats()
    assert stats is not None and (stats.hits, stats.misses) == (2, 1)


def test_attack_the_cache_holds_no_plaintext_and_keys_are_per_process(
    appliance: Appliance, shipped: PolicyEngine
) -> None:
    """ATTACK: reading everything the cache holds (keys and pickled values) reveals neither
    the input nor any identifier in it, and a key is not the input's plain SHA-256 (which a
    dictionary of guessed notes would match); two processes' keys for one input differ."""
    screening = _screening(appliance, shipped)
    for text in (PHI_NOTE, CLEAN_NOTE):
        screening.screen(Modality.TEXT, text, TREATMENT)
    cache = screening._cache
    assert cache is not None
    keys = list(cache._entries)
    dump = pickle.dumps(list(cache._entries.items()))
    assert len(keys) == 2 and all(len(k) == 32 for k in keys)
    for secret in (PHI_NOTE, CLEAN_NOTE, *IDENTIFIERS):
        assert secret.encode() not in dump, secret
        assert secret.encode("utf-16-le") not in dump, secret
    unkeyed = {hashlib.sha256(t.encode()).digest() for t in (PHI_NOTE, CLEAN_NOTE)}
    assert not unkeyed & set(keys)
    other = _screening(appliance, shipped)
    assert other._cache is not None
    assert other._cache.key_of(Modality.TEXT, PHI_NOTE.encode()) not in keys


def test_a_policy_change_empties_the_cache_and_the_new_policy_decides(
    appliance: Appliance, shipped: PolicyEngine, tmp_path: Path
) -> None:
    """ATTACK: an input allowed and cached under one policy is refused once the policy in
    force changes to deny it; the old entries are gone, not reused."""
    screening = _screening(appliance, shipped)
    assert screening.screen(Modality.TEXT, CLEAN_NOTE, TREATMENT).admission.allowed
    strict_dir = tmp_path / "policies"
    shutil.copytree(default_policies_dir(), strict_dir)
    site = strict_dir / "site.toml"
    site.write_text(
        site.read_text(encoding="utf-8").replace(
            "when.no_categories = true\nobligations = []",
            'when.no_categories = true\nobligations = [ { type = "deny", reason = "closed" } ]',
        ),
        encoding="utf-8",
    )
    strict = PolicyEngine.load(strict_dir)
    assert strict.policy_hash != shipped.policy_hash
    screening.policy = strict
    refused = screening.screen(Modality.TEXT, CLEAN_NOTE, TREATMENT)
    assert not refused.admission.allowed
    stats = screening.cache_stats()
    assert stats is not None and stats.invalidations == 1 and stats.hits == 0


def test_the_cache_is_bounded_and_can_be_turned_off(
    appliance: Appliance, shipped: PolicyEngine
) -> None:
    """At most ``cache_items`` entries are kept (oldest out); 0 keeps none."""
    screening = _screening(appliance, shipped, cache_items=2)
    for number in range(5):
        screening.screen(Modality.TEXT, f"Note number {number} about aspirin.", TREATMENT)
    stats = screening.cache_stats()
    assert stats is not None and stats.items == 2 and stats.misses == 5
    assert _screening(appliance, shipped, cache_items=0).cache_stats() is None
