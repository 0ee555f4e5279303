"""The audit trail kept in a shared PostgreSQL store: one chain for every writer, no fork,
no silent cut, and the appliance's other tables (tokens, consents) on the same store."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete

from appliance.audit import AuditTrail, verify_trail
from appliance.audit.storage import StoreLines, StoreTrail, store_trail
from appliance.clock import FixedClock
from appliance.domain.types import Actor
from appliance.errors import AuditWriteError
from appliance.settings import load_settings
from appliance.store.database import Database, create_store_engine
from appliance.store.migrations import migrate
from appliance.store.schema import audit_lines
from appliance.wiring import init_appliance, open_appliance
from tests.scaling.nodes import node_environ

OPERATOR = Actor.operator()


@pytest.fixture
def store(pg_url: str) -> StoreTrail:
    """A migrated PostgreSQL store's trail."""
    database = Database(create_store_engine(pg_url))
    migrate(database, FixedClock())
    trail = store_trail(database.engine)
    assert trail is not None
    return trail


def _trail(tmp_path: Path, key: Ed25519PrivateKey, store: StoreTrail, name: str) -> AuditTrail:
    return AuditTrail(tmp_path / name, key, clock=FixedClock(), checkpoint_every=4, store=store)


def test_two_trails_on_one_store_append_to_one_chain(tmp_path: Path, store: StoreTrail) -> None:
    """Two writers (two nodes' trails, each opened before the other wrote) interleave
    appends: each first takes in the other's entries, so the chain stays linear."""
    key = Ed25519PrivateKey.generate()
    first, second = _trail(tmp_path, key, store, "a"), _trail(tmp_path, key, store, "b")
    for n in range(5):
        first.append(actor=OPERATOR, action="test.a", outcome="ok", details={"n": n})
        second.append(actor=OPERATOR, action="test.b", outcome="ok", details={"n": n})
    assert second.head is not None and second.head[0] == 9
    first.close()
    second.close()
    report = verify_trail(tmp_path / "a", key.public_key(), store=store)
    assert report.ok and report.entries == 10, report.problem
    assert not (tmp_path / "a" / "trail.jsonl").exists()  # nothing kept beside the store


def test_a_writer_that_bypasses_the_lock_cannot_fork_the_chain(
    tmp_path: Path, store: StoreTrail
) -> None:
    """A second line 0 (a writer that skipped the lock and never read the trail) is
    refused by the store's key, and the trail that tried is refused as a write error."""
    key = Ed25519PrivateKey.generate()
    trail = _trail(tmp_path, key, store, "a")
    trail.append(actor=OPERATOR, action="test.a", outcome="ok")
    lock = store.open_lock()
    with lock, pytest.raises(OSError, match="refused the audit write"):
        StoreLines(lock, "trail.jsonl").append(b'{"seq":0,"forged":true}')
    trail.close()
    report = verify_trail(tmp_path / "a", key.public_key(), store=store)
    assert report.ok and report.entries == 1


def test_lines_deleted_behind_a_writer_refuse_the_trail(tmp_path: Path, store: StoreTrail) -> None:
    """Deleting signed entries from the table is noticed by the open trail (fail closed) and
    by verification (the checkpoint signs more entries than are left)."""
    key = Ed25519PrivateKey.generate()
    trail = _trail(tmp_path, key, store, "a")
    for n in range(6):
        trail.append(actor=OPERATOR, action="test.a", outcome="ok", details={"n": n})
    with store.engine.begin() as connection:
        connection.execute(
            delete(audit_lines).where(
                (audit_lines.c.stream == "trail.jsonl") & (audit_lines.c.line_no >= 2)
            )
        )
    with pytest.raises(Exception, match="shrank"):
        trail.append(actor=OPERATOR, action="test.a", outcome="ok")
    with pytest.raises(AuditWriteError):
        trail.append(actor=OPERATOR, action="test.a", outcome="ok")
    report = verify_trail(tmp_path / "a", key.public_key(), store=store)
    assert report.problem is not None and report.problem.kind == "truncated"


def test_appliance_on_postgres_keeps_tokens_and_consents(tmp_path: Path, pg_url: str) -> None:
    """init + open on PostgreSQL: tokens authenticate and revoke, consents grant and revoke,
    and the trail (in the store) verifies."""
    settings = load_settings(
        data_dir=tmp_path / "n0", environ=node_environ(tmp_path / "kek", pg_url)
    )
    report = init_appliance(settings, environ={})
    assert report.migrations == (1, 2, 3, 4, 5, 6) and "audit-genesis" in report.created
    app = open_appliance(settings, environ={})
    try:
        token = app.tokens.create("query", actor=OPERATOR)
        actor = app.tokens.authenticate(token)
        assert actor is not None and actor.role == "query"
        app.tokens.revoke(actor.token_id, actor=OPERATOR)
        assert app.tokens.authenticate(token) is None
        consents = app.consent
        granted = consents.grant(
            "MRN-9", purpose="research", category="bipa.*", evidence_ref="form", actor=OPERATOR
        )
        assert consents.revoke(granted.id, actor=OPERATOR)
        assert [c.revoked_at is not None for c in consents.list("MRN-9")] == [True]
        public = app.signing_public_key
    finally:
        app.close()
    trail = store_trail(create_store_engine(pg_url))
    result = verify_trail(settings.data_dir / "audit", public, store=trail)
    assert result.ok and result.entries >= 5, result.problem
