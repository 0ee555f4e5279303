"""Right to delete (CCPA 1798.105, BIPA 14/15(a)): a subject's policy-governed data erased."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from appliance.crypto.keyring import KeyKind
from appliance.domain.findings import FindingKind
from appliance.errors import InvalidInputError, KeyUnavailableError
from appliance.policy import PolicyEngine, RequestContext
from appliance.services.consent import ConsentService
from appliance.store.schema import items
from appliance.wiring import Appliance
from tests.log_capture import capture_events
from tests.retention.conftest import DIMENSION, OPERATOR, SPACE, decide, store, unit_vectors

VISITOR = "VISITOR-Ada-Lovelace-1815"
OTHER = "VISITOR-Charles-Babbage-1791"


def _populate(app: Appliance, engine: PolicyEngine) -> ConsentService:
    """Two visitors, each with a written release and faces stored under the decision."""
    consents = app.consent
    app.collections.create("faces", DIMENSION, OPERATOR)
    context = RequestContext("visitor", "operations")
    for n, subject in enumerate((VISITOR, OTHER)):
        consents.grant(
            subject,
            purpose="operations",
            category="bipa.*",
            evidence_ref=f"DMS:release/{n}",
            actor=OPERATOR,
        )
        pseudonym = consents.pseudonym(subject)
        decision = decide(
            app,
            engine,
            FindingKind.FACE,
            context,
            consents.state_for(pseudonym, "operations"),
        )
        assert decision.allowed
        store(app, "faces", subject, unit_vectors(3, seed=20 + n), f"s{n}", decision)
    app.indexes.snapshot_all()
    return consents


def test_erasing_a_subject_removes_items_and_key_and_audits_by_pseudonym(
    appliance: Appliance, engine: PolicyEngine
) -> None:
    """Erasure drops every item under BIPA/CCPA labels, destroys the key, audits, no PHI."""
    consents = _populate(appliance, engine)
    pseudonym = consents.pseudonym(VISITOR)
    with capture_events() as events:
        assert appliance.erasure.erase_subject(VISITOR, actor=OPERATOR) == 3
        assert appliance.erasure.erase_subject(VISITOR, actor=OPERATOR) == 0
    with appliance.database.read() as connection:
        left = connection.execute(
            select(func.count()).select_from(items).where(items.c.subject == pseudonym)
        ).scalar_one()
        assert left == 0
        with pytest.raises(KeyUnavailableError):
            appliance.keyring.get(connection, KeyKind.SUBJECT, pseudonym)
    for query in unit_vectors(3, seed=20):
        hits = appliance.items.search("faces", query, k=6, actor=OPERATOR, space=SPACE)
        assert {h.item_id[:2] for h in hits} == {"s1"}
    text = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    erasures = [e for e in entries if e["action"] == "subjects.erase"]
    assert [(e["subject"], e["details"]["items"]) for e in erasures] == [
        (pseudonym, 3),
        (pseudonym, 0),
    ]
    logged = json.dumps(list(events), default=str)
    for secret in (VISITOR, "Lovelace", "DMS:release/0"):
        assert secret not in text and secret not in logged


def test_cli_subjects_delete_is_idempotent_and_leaves_no_raw_id(
    appliance: Appliance,
    engine: PolicyEngine,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`appliance subjects delete` (id on stdin) prints the count, then 0; stdout, stderr and
    the trail hold no id; an id given as an argument is refused before anything happens."""
    from appliance.cli.main import cli

    _populate(appliance, engine)
    appliance.close()
    capsys.readouterr()
    argv = ["--data-dir", str(appliance.settings.data_dir), "subjects", "delete"]
    with pytest.raises(InvalidInputError, match="not taken as command-line arguments"):
        cli.main(args=[*argv, VISITOR], prog_name="appliance", standalone_mode=False)
    outputs = []
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(VISITOR + "\n"))
        cli.main(args=argv, prog_name="appliance", standalone_mode=False)
        out, err = capsys.readouterr()
        outputs.append(json.loads(out))
        assert "Lovelace" not in err
    assert outputs == [{"deleted": 3}, {"deleted": 0}]
    text = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert text.count('"subjects.erase"') == 2 and "Lovelace" not in text


def test_erasure_deletes_consent_rows_and_their_evidence_references(
    appliance: Appliance, engine: PolicyEngine
) -> None:
    """After erasure no consent row (evidence reference included) of the subject is left in
    the database file; another subject's consent stays."""
    consents = _populate(appliance, engine)
    appliance.erasure.erase_subject(VISITOR, actor=OPERATOR)
    appliance.database.checkpoint_wal()
    assert consents.list(VISITOR) == []
    assert len(consents.list(OTHER)) == 1
    raw = (appliance.settings.data_dir / "appliance.db").read_bytes()
    assert b"DMS:release/0" not in raw
    assert b"DMS:release/1" in raw
