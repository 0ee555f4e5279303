"""Decisions: composition (strictest wins), fail-closed default, BIPA, HIPAA, CCPA paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from appliance.audit.entry import entry_fields
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError
from appliance.policy import (
    ApplyDefence,
    ConsentRecord,
    ConsentState,
    Outcome,
    PolicyEngine,
    RequestContext,
    RequireConsent,
    RequireDeidentification,
    RestrictVisibility,
    RetentionLimit,
)
from tests.policy.conftest import MINI_REGIME, MINI_SITE, NOW, findings, write_policies

PATIENT_CARE = RequestContext("patient", "treatment")


def _release(
    category: str = "bipa.*", purpose: str = "operations", expires_in: int | None = 365
) -> ConsentRecord:
    expires = NOW + timedelta(days=expires_in) if expires_in is not None else None
    return ConsentRecord(7, purpose, category, NOW - timedelta(days=1), expires)


def _composed(tmp_path: Path) -> PolicyEngine:
    a = MINI_REGIME.format(regime="a") + (
        '[[rules]]\nid = "a.names"\ntitle = "A names"\ncitation = "A 1"\n'
        'when.categories = ["a.names"]\nwhen.roles = ["patient"]\n'
        "obligations = [\n"
        '  { type = "retention", days = 30 },\n'
        '  { type = "restrict_visibility", roles = ["admin", "query"] },\n'
        '  { type = "require_deidentification", method = "safe_harbor" },\n'
        "]\n"
    )
    b = MINI_REGIME.format(regime="b") + (
        '[[rules]]\nid = "b.names"\ntitle = "B names"\ncitation = "B 1"\n'
        'when.categories = ["b.names"]\nwhen.roles = ["patient"]\n'
        "obligations = [\n"
        '  { type = "retention", days = 10 },\n'
        '  { type = "restrict_visibility", roles = ["query", "auditor"] },\n'
        '  { type = "apply_defence", name = "gaussian_noise", params = { sigma = 0.1 } },\n'
        "]\n"
        '[[rules]]\nid = "b.no-research"\ntitle = "No research"\ncitation = "B 2"\n'
        'when.categories = ["b.names"]\nwhen.purposes = ["research"]\n'
        'obligations = [{ type = "deny", reason = "research on names is refused" }]\n'
    )
    directory = write_policies(tmp_path / "p", {"a.toml": a, "b.toml": b, "site.toml": MINI_SITE})
    return PolicyEngine.load(directory)


def test_strictest_obligation_of_each_kind_wins(tmp_path: Path) -> None:
    """Shortest retention, narrowest visibility, and every de-identification/defence apply."""
    engine = _composed(tmp_path)
    decision = engine.decide(findings("person_name"), PATIENT_CARE, None, NOW)
    assert decision.outcome is Outcome.ALLOW_WITH_OBLIGATIONS
    assert decision.retention_deadline == NOW + timedelta(days=10)
    assert decision.visible_to == ("query",)
    kinds = {type(o) for o in decision.obligations}
    assert kinds == {RetentionLimit, RestrictVisibility, RequireDeidentification, ApplyDefence}
    assert decision.regimes == ("a", "b")
    assert {r.rule for r in decision.reasons} == {"a.names", "b.names"}


def test_a_deny_in_one_regime_overrides_allows_in_others(tmp_path: Path) -> None:
    """Research on names: regime a allows with obligations, regime b denies; deny wins."""
    engine = _composed(tmp_path)
    decision = engine.decide(
        findings("person_name"), RequestContext("patient", "research"), None, NOW
    )
    assert decision.outcome is Outcome.DENY and not decision.allowed
    assert [o.reason for o in decision.obligations] == ["research on names is refused"]
    assert "b.no-research" in {r.rule for r in decision.reasons}


def test_no_applicable_rule_means_deny_with_a_reason(tmp_path: Path) -> None:
    """A staff member's name: no rule of either regime applies, so the input is denied."""
    engine = _composed(tmp_path)
    decision = engine.decide(findings("person_name"), RequestContext("staff", "operations"))
    assert decision.outcome is Outcome.DENY
    assert all(r.rule == "engine.fail_closed" for r in decision.reasons)
    assert decision.reasons[0].text == (
        "no applicable rule for role staff, purpose operations, setting health_care, "
        "categories a.names, b.names"
    )


def test_a_hit_category_no_applicable_rule_covers_is_denied(tmp_path: Path) -> None:
    """A face hits a.faces and b.faces, which no rule addresses: deny despite the names rule."""
    engine = _composed(tmp_path)
    decision = engine.decide(findings("person_name", "face"), PATIENT_CARE, None, NOW)
    assert decision.outcome is Outcome.DENY
    texts = " ".join(r.text for r in decision.reasons)
    assert "a.faces" in texts and "b.faces" in texts


def test_no_rule_at_all_is_denied(tmp_path: Path) -> None:
    """Without a site allow rule, even PHI-free input is denied (fail closed)."""
    site = '[site]\ntitle = "s"\ncitation = "s"\n'
    directory = write_policies(
        tmp_path / "p", {"a.toml": MINI_REGIME.format(regime="a"), "site.toml": site}
    )
    decision = PolicyEngine.load(directory).decide([], PATIENT_CARE, None, NOW)
    assert decision.outcome is Outcome.DENY
    assert decision.reasons[0].text.startswith("no applicable rule for role patient")


@pytest.mark.parametrize("purpose", ["treatment", "payment", "operations", "research"])
@pytest.mark.parametrize("role", ["patient", "staff", "visitor"])
def test_phi_free_input_is_allowed_in_every_valid_context(
    engine: PolicyEngine, role: str, purpose: str
) -> None:
    """Clinical text without identifiers can be embedded whoever and whatever it is for."""
    decision = engine.decide([], RequestContext(role, purpose), None, NOW)
    assert decision.allowed
    assert decision.categories == ()
    assert "site.no-identifiers" in {r.rule for r in decision.reasons}


def test_patient_phi_for_treatment_is_allowed_with_minimum_necessary(
    engine: PolicyEngine,
) -> None:
    """A patient's name and MRN for treatment: allowed, visible to clinical roles only."""
    decision = engine.decide(
        findings("person_name", "medical_record_number"), PATIENT_CARE, None, NOW
    )
    assert decision.outcome is Outcome.ALLOW_WITH_OBLIGATIONS
    assert "hipaa.names" in decision.categories
    assert "hipaa.medical_record_numbers" in decision.categories
    assert decision.visible_to == ("admin", "query")
    assert decision.retention_deadline is None
    assert "category:hipaa.names" in decision.labels
    assert f"policy:{engine.policy_hash[:16]}" in decision.labels


@pytest.mark.parametrize("role", ["staff", "visitor"])
@pytest.mark.parametrize("kind", ["face", "speech"])
def test_bipa_non_patient_without_written_release_is_denied(
    engine: PolicyEngine, role: str, kind: str
) -> None:
    """A staff member's or visitor's face or voice with no release: denied, consent missing."""
    decision = engine.decide(findings(kind), RequestContext(role, "operations"), None, NOW)
    assert decision.outcome is Outcome.DENY
    missing = [o for o in decision.obligations if isinstance(o, RequireConsent)]
    assert missing and not missing[0].satisfied
    assert decision.missing_consent[0].startswith("bipa.")
    assert any("740 ILCS 14/15(b)" in r.citation for r in decision.reasons)


def test_bipa_non_patient_with_written_release_gets_3_year_retention(
    engine: PolicyEngine,
) -> None:
    """With a valid release the visitor's face is stored, at most 3 years, narrow visibility."""
    consents = ConsentState("operations", (_release(),))
    decision = engine.decide(
        findings("face"), RequestContext("visitor", "operations"), consents, NOW
    )
    assert decision.outcome is Outcome.ALLOW_WITH_OBLIGATIONS
    met = [o for o in decision.obligations if isinstance(o, RequireConsent)]
    assert met[0].satisfied and met[0].consent_ids == (7,)
    retention = [o for o in decision.obligations if isinstance(o, RetentionLimit)]
    assert len(retention) == 1
    # the site's 2-year CCPA limit is stricter than BIPA's 3 years, so it wins
    assert decision.retention_deadline == NOW + timedelta(days=730)
    assert decision.visible_to == ("query",)


def test_bipa_retention_is_three_calendar_years_when_strictest(shipped_copy: Path) -> None:
    """With the site limit removed, the deadline is 3 years after the interaction (BIPA)."""
    site = shipped_copy / "site.toml"
    site.write_text(site.read_text().replace("days = 730", "days = 5000"))
    engine = PolicyEngine.load(shipped_copy)
    consents = ConsentState("operations", (_release(),))
    decision = engine.decide(
        findings("speech"), RequestContext("staff", "operations"), consents, NOW
    )
    assert decision.retention_deadline == NOW.replace(year=2029)
    limit = next(o for o in decision.obligations if isinstance(o, RetentionLimit))
    assert limit.basis == "last_interaction" and limit.rules == ("bipa.written-release",)


@pytest.mark.parametrize(
    ("record", "word"),
    [
        (_release(expires_in=-1), "expired"),
        (_release(purpose="research"), None),
        (_release(category="bipa.voiceprint"), None),
    ],
)
def test_bipa_release_that_is_expired_or_for_something_else_does_not_count(
    engine: PolicyEngine, record: ConsentRecord, word: str | None
) -> None:
    """An expired release, or one for another purpose or category, leaves the face denied."""
    consents = ConsentState("operations", (record,))
    decision = engine.decide(
        findings("face"), RequestContext("visitor", "operations"), consents, NOW
    )
    assert decision.outcome is Outcome.DENY
    texts = " ".join(r.text for r in decision.reasons)
    assert "no valid consent for purpose operations covering bipa.face_geometry" in texts
    if word:
        assert f"consent 7 for bipa.face_geometry {word}" in texts


def test_revoked_release_no_longer_counts(engine: PolicyEngine) -> None:
    """A release revoked before now is treated as absent, and the reason says revoked."""
    revoked = ConsentRecord(7, "operations", "bipa.*", NOW - timedelta(days=9), None, NOW)
    decision = engine.decide(
        findings("face"),
        RequestContext("staff", "operations"),
        ConsentState("operations", (revoked,)),
        NOW,
    )
    assert decision.outcome is Outcome.DENY
    assert "consent 7 for bipa.face_geometry revoked" in " ".join(r.text for r in decision.reasons)


def test_patient_in_health_care_setting_is_excluded_from_bipa(engine: PolicyEngine) -> None:
    """A patient's face in care needs no release (740 ILCS 14/10); HIPAA governs it."""
    decision = engine.decide(findings("face"), PATIENT_CARE, None, NOW)
    assert decision.allowed
    assert "bipa.health-care-exclusion" in {r.rule for r in decision.reasons}
    assert not any(isinstance(o, RequireConsent) for o in decision.obligations)
    assert decision.visible_to == ("admin", "query")


def test_patient_outside_health_care_needs_a_release(engine: PolicyEngine) -> None:
    """The exclusion is for health-care settings only: elsewhere a patient needs a release."""
    context = RequestContext("patient", "treatment", setting="other")
    assert engine.decide(findings("face"), context, None, NOW).outcome is Outcome.DENY


def test_research_on_patient_phi_requires_deidentification_or_authorization(
    engine: PolicyEngine,
) -> None:
    """Without an authorization research needs Safe Harbor; with one it does not."""
    context = RequestContext("patient", "research")
    bare = engine.decide(findings("person_name", "date"), context, None, NOW)
    assert RequireDeidentification("safe_harbor", ("hipaa.patient-research-deidentify",)) in (
        bare.obligations
    )
    authorized = ConsentState(
        "research", (ConsentRecord(3, "research", "hipaa.*", NOW - timedelta(days=1), None),)
    )
    with_auth = engine.decide(findings("person_name", "date"), context, authorized, NOW)
    assert with_auth.allowed
    assert not any(isinstance(o, RequireDeidentification) for o in with_auth.obligations)
    assert any(isinstance(o, ApplyDefence) for o in with_auth.obligations)


def test_research_on_a_patient_face_without_authorization_is_denied(engine: PolicyEngine) -> None:
    """A face cannot be de-identified out of its own embedding: research needs authorization."""
    decision = engine.decide(findings("face"), RequestContext("patient", "research"), None, NOW)
    assert decision.outcome is Outcome.DENY


def test_decision_records_hash_and_fits_the_audit_trail(engine: PolicyEngine) -> None:
    """The audit record carries the policy hash and passes the trail's own field checks."""
    decision = engine.decide(
        findings("person_name", "ssn", "face", "speech", "date"),
        RequestContext("visitor", "research"),
        None,
        NOW,
    )
    record = decision.audit_record()
    assert record["policy_hash"] == engine.policy_hash
    assert record["role"] == "visitor" and record["outcome"] == "deny"
    entry_fields(actor=Actor.operator(), action="policy.decide", outcome="deny", decision=record)
    assert decision.to_dict()["policy_hash"] == engine.policy_hash


def test_invalid_context_is_an_input_error_not_a_decision() -> None:
    """An unknown role or purpose in a request is a 4xx naming the field."""
    with pytest.raises(InvalidInputError, match=r"context\.subject_role 'doctor'"):
        RequestContext("doctor", "treatment")
    with pytest.raises(InvalidInputError, match=r"context\.purpose is required"):
        RequestContext.from_mapping({"subject_role": "patient"})
    parsed = RequestContext.from_mapping({"subject_role": "staff", "purpose": "payment"})
    assert parsed.setting == "health_care"


def test_low_score_findings_below_a_category_threshold_do_not_hit(tmp_path: Path) -> None:
    """A category's min_score filters weak findings; the same finding above it hits."""
    text = MINI_REGIME.format(regime="t").replace(
        'evidence = ["face"]', 'evidence = ["face"]\nmin_score = 0.8'
    )
    directory = write_policies(tmp_path / "p", {"t.toml": text, "site.toml": MINI_SITE})
    engine = PolicyEngine.load(directory)
    from tests.policy.conftest import finding

    assert engine.categories_hit([finding("face", 0.5)]) == ()
    assert engine.categories_hit([finding("face", 0.9)]) == ("t.faces",)
