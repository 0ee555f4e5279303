"""Consent registry: grant, revoke, expiry and decisions, each audited without PHI."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.clock import FixedClock
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError, NotFoundError
from appliance.policy import PolicyEngine, RequestContext
from appliance.services.consent import ConsentService
from appliance.wiring import Appliance
from tests.conftest import run_appliance
from tests.log_capture import capture_events
from tests.policy.conftest import findings

OPERATOR = Actor.operator()
VISITOR = "VISITOR-Jane-Roe-0042"
EVIDENCE = "DMS:release/2026-0042"
VISITOR_OPS = RequestContext("visitor", "operations")


def _trail(app: Appliance) -> tuple[str, list[dict[str, Any]]]:
    text = (app.settings.data_dir / "audit" / "trail.jsonl").read_text()
    return text, [json.loads(line) for line in text.splitlines()]


def _service(app: Appliance, engine: PolicyEngine | None = None) -> ConsentService:
    known = [c.id for c in engine.policy.categories] if engine else None
    return app.consent_service(known_categories=known)


def _assert_no_phi(app: Appliance, events: list[dict[str, Any]]) -> None:
    text, _ = _trail(app)
    logged = json.dumps(events, default=str)
    for secret in (VISITOR, "Jane", EVIDENCE):
        assert secret not in text
        assert secret not in logged


def test_grant_is_audited_by_pseudonym_only(appliance: Appliance, engine: PolicyEngine) -> None:
    """A grant writes consents.grant with the pseudonym; no raw id or evidence anywhere."""
    service = _service(appliance, engine)
    with capture_events() as events:
        row = service.grant(
            VISITOR,
            purpose="operations",
            category="bipa.*",
            evidence_ref=EVIDENCE,
            actor=OPERATOR,
            expires_at=appliance.clock.now() + timedelta(days=365),
        )
    _, entries = _trail(appliance)
    grant = [e for e in entries if e["action"] == "consents.grant"]
    assert len(grant) == 1
    assert grant[0]["subject"] == service.pseudonym(VISITOR) == row.subject
    assert grant[0]["details"]["consent_id"] == row.id
    assert grant[0]["details"]["category"] == "bipa.*"
    assert events.named("consents.granted")
    _assert_no_phi(appliance, list(events))
    assert [c.id for c in service.list(VISITOR)] == [row.id]


def test_missing_release_denies_and_the_denial_is_audited(
    appliance: Appliance, engine: PolicyEngine
) -> None:
    """No release: the visitor's face is denied, and policy.decide records it by pseudonym."""
    service = _service(appliance, engine)
    with capture_events() as events:
        decision = service.evaluate(
            engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR, collection="faces"
        )
    assert not decision.allowed
    _, entries = _trail(appliance)
    entry = [e for e in entries if e["action"] == "policy.decide"][-1]
    assert entry["outcome"] == "deny"
    assert entry["subject"] == service.pseudonym(VISITOR)
    assert entry["collection"] == "faces"
    assert entry["decision"]["policy_hash"] == engine.policy_hash
    assert "bipa.face_geometry" in entry["decision"]["categories"]
    assert "consent:missing:" in entry["decision"]["obligations"]
    _assert_no_phi(appliance, list(events))


def test_valid_release_allows_then_expiry_denies(
    appliance: Appliance, clock: FixedClock, engine: PolicyEngine
) -> None:
    """Within its term a release allows the face; once expired the same request is denied."""
    service = _service(appliance, engine)
    row = service.grant(
        VISITOR,
        purpose="operations",
        category="bipa.*",
        evidence_ref=EVIDENCE,
        actor=OPERATOR,
        expires_at=clock.now() + timedelta(days=30),
    )
    with capture_events() as events:
        allowed = service.evaluate(engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR)
        clock.advance(timedelta(days=31))
        expired = service.evaluate(engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR)
    assert allowed.allowed and row.id in allowed.obligations[0].consent_ids  # type: ignore[union-attr]
    assert not expired.allowed
    assert f"consent {row.id} for bipa.face_geometry expired" in " ".join(
        r.text for r in expired.reasons
    )
    _, entries = _trail(appliance)
    outcomes = [e["outcome"] for e in entries if e["action"] == "policy.decide"]
    assert outcomes == ["allow_with_obligations", "deny"]
    _assert_no_phi(appliance, list(events))


def test_revocation_is_audited_and_takes_effect(appliance: Appliance, engine: PolicyEngine) -> None:
    """Revoke: ok, then unchanged on repeat, not_found for an unknown id; decisions follow."""
    service = _service(appliance, engine)
    row = service.grant(
        VISITOR, purpose="operations", category="bipa.*", evidence_ref=EVIDENCE, actor=OPERATOR
    )
    assert service.evaluate(engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR).allowed
    with capture_events() as events:
        assert service.revoke(row.id, actor=OPERATOR) is True
        assert service.revoke(row.id, actor=OPERATOR) is False
        with pytest.raises(NotFoundError):
            service.revoke(9999, actor=OPERATOR)
    after = service.evaluate(engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR)
    assert not after.allowed
    assert "revoked" in " ".join(r.text for r in after.reasons)
    _, entries = _trail(appliance)
    revokes = [(e["outcome"], e["subject"]) for e in entries if e["action"] == "consents.revoke"]
    pseudonym = service.pseudonym(VISITOR)
    assert revokes == [("ok", pseudonym), ("unchanged", pseudonym), ("not_found", None)]
    assert service.list(VISITOR)[0].revoked_at == appliance.clock.now()
    _assert_no_phi(appliance, list(events))


def test_consent_for_another_purpose_does_not_allow(
    appliance: Appliance, engine: PolicyEngine
) -> None:
    """A release for research does not cover operations."""
    service = _service(appliance, engine)
    service.grant(
        VISITOR, purpose="research", category="bipa.*", evidence_ref=EVIDENCE, actor=OPERATOR
    )
    decision = service.evaluate(engine, VISITOR, findings("face"), VISITOR_OPS, actor=OPERATOR)
    assert not decision.allowed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"purpose": "marketing"}, "purpose 'marketing'"),
        ({"category": "BIPA release"}, "is not a category id"),
        ({"category": "bipa.retina"}, "is not in the policy"),
        ({"category": "gdpr.*"}, "is not in the policy"),
        ({"evidence_ref": "signed by Jane Roe"}, "evidence reference"),
        ({"expires_in": -1}, "expires_at must be after granted_at"),
        ({"granted_in": 1}, "cannot be granted in the future"),
    ],
)
def test_invalid_grants_are_refused_and_store_nothing(
    appliance: Appliance, engine: PolicyEngine, change: dict[str, Any], message: str
) -> None:
    """Bad purpose, category, evidence or dates are input errors; nothing is stored."""
    service = _service(appliance, engine)
    now = appliance.clock.now()
    args: dict[str, Any] = {
        "purpose": "operations",
        "category": "bipa.*",
        "evidence_ref": EVIDENCE,
        "actor": OPERATOR,
    }
    if "expires_in" in change:
        args["expires_at"] = now + timedelta(days=change.pop("expires_in"))
    if "granted_in" in change:
        args["granted_at"] = now + timedelta(days=change.pop("granted_in"))
    args.update(change)
    with pytest.raises(InvalidInputError, match=message):
        service.grant(VISITOR, **args)
    assert service.list(VISITOR) == []


def test_consents_are_stored_under_the_pseudonym(
    appliance: Appliance, engine: PolicyEngine, tmp_path: Path
) -> None:
    """The database file holds the pseudonym and never the raw subject id."""
    service = _service(appliance, engine)
    service.grant(
        VISITOR, purpose="operations", category="bipa.*", evidence_ref=EVIDENCE, actor=OPERATOR
    )
    appliance.database.checkpoint_wal()
    raw = (appliance.settings.data_dir / "appliance.db").read_bytes()
    assert VISITOR.encode() not in raw
    assert service.pseudonym(VISITOR).encode() in raw


def test_consents_cli_grant_list_revoke(
    appliance: Appliance,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`consents grant|list|revoke` round trip (subject ids on stdin, refused as arguments):
    JSON out, audited, unknown id exits 1."""
    appliance.close()
    base = ["--data-dir", str(appliance.settings.data_dir), "consents"]

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return run_appliance(capsys, *base, *argv)

    capsys.readouterr()
    code, _, err = run("list", VISITOR, "--json")
    assert code == 1 and "not taken as command-line arguments" in err and VISITOR not in err
    code, out, _ = run(
        "grant",
        "--purpose",
        "operations",
        "--category",
        "bipa.*",
        "--evidence",
        EVIDENCE,
        "--expires",
        "2027-01-01",
        stdin=VISITOR + "\n",
    )
    assert code == 0
    consent_id = json.loads(out)["consent_id"]
    code, out, _ = run("list", "--json", stdin=VISITOR + "\n")
    listed = json.loads(out)
    assert [(c["consent_id"], c["expires_at"]) for c in listed] == [
        (consent_id, "2027-01-01T00:00:00.000000Z")
    ]
    assert json.loads(run("revoke", str(consent_id))[1]) == {
        "consent_id": consent_id,
        "revoked": True,
    }
    assert json.loads(run("revoke", str(consent_id))[1])["revoked"] is False
    code, _, err = run("revoke", "424242")
    assert code == 1 and "consent 424242 does not exist" in err
    code, _, err = run(
        "grant",
        "--purpose",
        "operations",
        "--category",
        "bipa.iris",
        "--evidence",
        EVIDENCE,
        stdin=VISITOR + "\n",
    )
    assert code == 1 and "not in the policy" in err
    trail = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert trail.count('"consents.grant"') == 1 and trail.count('"consents.revoke"') == 3
    assert VISITOR not in trail and EVIDENCE not in trail
