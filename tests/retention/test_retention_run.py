"""Retention: deadlines from decisions, and the run that erases expired items by shredding."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from appliance.clock import FixedClock
from appliance.crypto.keyring import KeyKind
from appliance.domain.findings import FindingKind
from appliance.errors import KeyUnavailableError
from appliance.policy import ConsentRecord, ConsentState, PolicyEngine, RequestContext
from appliance.services.retention import deadline_for, stored_policy
from appliance.store.schema import items
from appliance.wiring import Appliance
from tests.conftest import run_appliance
from tests.log_capture import capture_events
from tests.retention.conftest import (
    DIMENSION,
    OPERATOR,
    SPACE,
    decide,
    store,
    unit_vectors,
)

VISITOR = "VISITOR-John-Doe-77"
PATIENT = "MRN-00012345"
RELEASE = ConsentState(
    "operations", (ConsentRecord(1, "operations", "bipa.*", FixedClock().now(), None),)
)


def _populate(app: Appliance, engine: PolicyEngine) -> dict[str, Any]:
    """A visitor's faces under a release (deadline 730 days) and a patient's (no deadline)."""
    app.collections.create("faces", DIMENSION, OPERATOR)
    app.collections.create("notes", DIMENSION, OPERATOR)
    visitor = decide(
        app, engine, FindingKind.FACE, RequestContext("visitor", "operations"), RELEASE
    )
    patient = decide(app, engine, FindingKind.FACE, RequestContext("patient", "treatment"))
    expiring, kept = unit_vectors(3, seed=1), unit_vectors(3, seed=2)
    store(app, "faces", VISITOR, expiring[:2], "v", visitor)
    store(app, "notes", VISITOR, expiring[2:], "vn", visitor)
    store(app, "faces", PATIENT, kept, "p", patient)
    app.indexes.snapshot_all()
    return {"expiring": expiring, "kept": kept, "visitor": visitor, "patient": patient}


def _trail(app: Appliance) -> tuple[str, list[dict[str, Any]]]:
    text = (app.settings.data_dir / "audit" / "trail.jsonl").read_text()
    return text, [json.loads(line) for line in text.splitlines()]


def test_deadline_comes_from_the_strictest_retention_obligation(
    appliance: Appliance, engine: PolicyEngine
) -> None:
    """A visitor's face: CCPA site limit (730 days) beats BIPA's 3 years; patients: none."""
    data = _populate(appliance, engine)
    now = appliance.clock.now()
    assert deadline_for(data["visitor"]) == now + timedelta(days=730)
    assert deadline_for(data["patient"]) is None
    fields = stored_policy(data["visitor"])
    assert fields.retention_deadline == now + timedelta(days=730)
    assert "category:bipa.face_geometry" in fields.policy_labels
    assert any(o.startswith("retention:2028-01-01") for o in fields.obligations)
    with appliance.database.read() as connection:
        stored = {
            r.item_id: r.retention_deadline
            for r in connection.execute(select(items.c.item_id, items.c.retention_deadline))
        }
    ref = appliance.items.stored_id  # ids are stored as keyed references
    assert stored[ref("faces", "v-0")] == now + timedelta(days=730)
    assert stored[ref("faces", "p-0")] is None


def test_denied_decisions_cannot_be_stored(appliance: Appliance, engine: PolicyEngine) -> None:
    """stored_policy refuses a deny, so a denied input has no fields to be stored with."""
    denied = decide(appliance, engine, FindingKind.FACE, RequestContext("visitor", "operations"))
    with pytest.raises(ValueError, match="denied"):
        stored_policy(denied)


def test_run_erases_only_expired_items_and_shreds_emptied_subjects(
    appliance: Appliance, clock: FixedClock, engine: PolicyEngine
) -> None:
    """Past the deadline the visitor's items go, their key is destroyed; the patient stays."""
    data = _populate(appliance, engine)
    service = appliance.retention
    pseudonymize = appliance.pseudonymize
    visitor, patient = pseudonymize(VISITOR), pseudonymize(PATIENT)
    assert service.run() == 0  # nothing is due yet
    clock.advance(timedelta(days=731))
    assert service.due() == 3
    with capture_events() as events:
        assert service.run() == 3
    assert service.run() == 0  # idempotent
    with appliance.database.read() as connection:
        left = {r.item_id for r in connection.execute(select(items.c.item_id))}
        assert left == {appliance.items.stored_id("faces", f"p-{n}") for n in range(3)}
        with pytest.raises(KeyUnavailableError):
            appliance.keyring.get(connection, KeyKind.SUBJECT, visitor)
        appliance.keyring.clear_cache()
        assert appliance.keyring.get(connection, KeyKind.SUBJECT, patient)[0] == 1
    for collection in ("faces", "notes"):
        for query in data["expiring"]:
            hits = appliance.items.search(collection, query, k=10, actor=OPERATOR, space=SPACE)
            assert not any(h.item_id.startswith("v") for h in hits)
    text, entries = _trail(appliance)
    erased = [e for e in entries if e["action"] == "retention.erase"]
    assert len(erased) == 3
    assert {e["subject"] for e in erased} == {visitor}
    assert {e["collection"] for e in erased} == {"faces", "notes"}
    assert all(e["details"]["key_destroyed"] for e in erased)
    runs = [e["details"]["erased"] for e in entries if e["action"] == "retention.run"]
    assert runs == [0, 3, 0]
    logged = json.dumps(list(events), default=str)
    for secret in (VISITOR, "John", PATIENT, "v-0", "caption"):
        assert secret not in text
        assert secret not in logged


def test_run_keeps_the_key_while_the_subject_has_live_items(
    appliance: Appliance, clock: FixedClock, engine: PolicyEngine
) -> None:
    """A visitor with one expired and one later item keeps their key and later item."""
    appliance.collections.create("faces", DIMENSION, OPERATOR)
    context = RequestContext("visitor", "operations")
    first = decide(appliance, engine, FindingKind.FACE, context, RELEASE)
    store(appliance, "faces", VISITOR, unit_vectors(1, seed=3), "early", first)
    clock.advance(timedelta(days=100))
    second = decide(appliance, engine, FindingKind.FACE, context, RELEASE)
    store(appliance, "faces", VISITOR, unit_vectors(1, seed=4), "late", second)
    clock.advance(timedelta(days=640))
    assert appliance.retention.run() == 1
    hits = appliance.items.search(
        "faces", unit_vectors(1, seed=4)[0], k=5, actor=OPERATOR, space=SPACE
    )
    assert [h.item_id for h in hits] == ["late-0"]
    _, entries = _trail(appliance)
    erased = [e for e in entries if e["action"] == "retention.erase"]
    assert [e["details"]["key_destroyed"] for e in erased] == [False]


def test_expired_vectors_leave_the_index_and_its_snapshot(
    appliance: Appliance, clock: FixedClock, engine: PolicyEngine
) -> None:
    """After the run neither the live index nor a reloaded snapshot holds the erased rows."""
    _populate(appliance, engine)
    appliance.items.search("faces", unit_vectors(1, seed=9)[0], k=1, actor=OPERATOR, space=SPACE)
    with appliance.database.read() as connection:
        doomed = [
            int(r)
            for r in connection.execute(
                select(items.c.row_id).where(items.c.retention_deadline.is_not(None))
            ).scalars()
        ]
    clock.advance(timedelta(days=800))
    appliance.retention.run()
    from appliance.store.repository import get_collection

    with appliance.database.read() as connection:
        faces = get_collection(connection, "faces")
    live = appliance.indexes.get(faces, SPACE)
    assert not any(row_id in live for row_id in doomed)
    assert len(live) == 3
    appliance.close()
    from appliance.wiring import open_appliance

    reopened = open_appliance(appliance.settings, clock=clock, environ={})
    try:
        with reopened.database.read() as connection:
            faces = get_collection(connection, "faces")
        index = reopened.indexes.get(faces, SPACE)
        assert len(index) == 3 and not any(row_id in index for row_id in doomed)
    finally:
        reopened.close()


def test_cli_retention_run_with_now_erases_and_prints_json(
    appliance: Appliance,
    engine: PolicyEngine,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
) -> None:
    """`appliance retention run --now ISO --json`: dry run counts, the run erases, both JSON."""
    _populate(appliance, engine)
    appliance.close()
    base = ["--data-dir", str(appliance.settings.data_dir), "retention", "run"]
    capsys.readouterr()
    code, out, _ = run_appliance(capsys, *base, "--now", "2027-01-01", "--json")
    assert code == 0 and json.loads(out)["erased"] == 0
    code, out, _ = run_appliance(
        capsys, *base, "--now", "2030-01-01T00:00:00Z", "--dry-run", "--json"
    )
    assert code == 0 and json.loads(out) == {
        "due": 3,
        "now": "2030-01-01T00:00:00.000000Z",
        "dry_run": True,
    }
    code, out, _ = run_appliance(capsys, *base, "--now", "2030-01-01", "--json")
    assert code == 0 and json.loads(out)["erased"] == 3
    code, out, _ = run_appliance(capsys, *base, "--now", "2030-01-01")
    assert code == 0 and out.startswith("erased 0 item(s)")
    text = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert text.count('"retention.erase"') == 3 and VISITOR not in text


def test_retention_run_in_another_process_reaches_the_servers_index_and_schedules_a_shred(
    appliance: Appliance, clock: FixedClock, engine: PolicyEngine
) -> None:
    """`retention run` from the timer's own process (a second opened appliance): the serving
    one drops the expired rows from its live index and the shredded key from its cache at its
    next maintenance tick, and the run records a KEK shred request."""
    from appliance.store.repository import get_collection
    from appliance.wiring import open_appliance

    _populate(appliance, engine)
    with appliance.database.read() as connection:
        faces = get_collection(connection, "faces")
        doomed = [
            int(r)
            for r in connection.execute(
                select(items.c.row_id).where(items.c.retention_deadline.is_not(None))
            ).scalars()
        ]
    live = appliance.indexes.get(faces, SPACE)
    assert sum(row in live for row in doomed) == 2
    clock.advance(timedelta(days=800))
    timer = open_appliance(appliance.settings, clock=clock, environ={})
    try:
        assert timer.retention.run() == 3
        assert timer.keys.status().shreds_pending == 1
    finally:
        timer.close()
    appliance.maintain()
    assert not any(row in live for row in doomed)
    with appliance.database.read() as connection, pytest.raises(KeyUnavailableError):
        appliance.keyring.get(connection, KeyKind.SUBJECT, appliance.pseudonymize(VISITOR))
