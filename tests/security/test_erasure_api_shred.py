"""`DELETE /v1/subjects/{id}?shred_now=true` over HTTP: the erasure retires the KEK at once,
so a store backup taken before it no longer unwraps any of its keys with the KEK the
appliance holds afterwards; without `shred_now` the shred is only scheduled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import binding
from appliance.errors import IntegrityError, KeyUnavailableError
from appliance.store import keys as key_rows
from appliance.store.database import Database, create_store_engine
from tests.api.conftest import LiveServer, served, test_pack  # noqa: F401 - fixtures

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def _ingest(served: LiveServer, subject: str) -> None:  # noqa: F811
    item = {"subject_id": subject, "modality": "text", "data": "stable overnight",
            "context": CONTEXT}  # fmt: skip
    with served.client("admin") as admin:
        admin.post("/v1/collections", json={"name": "notes"})
        reply = admin.post("/v1/collections/notes/items", json={"items": [item]})
    assert reply.status_code == 200 and reply.json()["items"][0]["status"] == "stored"


def _backup_store(served: LiveServer, target: Path) -> Path:  # noqa: F811
    """A consistent copy of the live store (SQLite online backup), as an operator takes."""
    source = sqlite3.connect(served.appliance.settings.data_dir / "appliance.db")
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return target


def _keys_unwrapped(served: LiveServer, store: Path) -> int:  # noqa: F811
    """How many wrapped keys of ``store`` the appliance's current KEK ring opens."""
    ring = load_kek(locate_kek(served.appliance.settings.data_dir, environ={}))
    database = Database(create_store_engine(f"sqlite:///{store}"))
    opened = 0
    try:
        with database.read() as connection:
            for row in key_rows.iter_all(connection):
                aad = binding(row.kind, row.owner, row.version, row.kek_version)
                for version in ring.keys:  # any version the ring holds, not only the recorded
                    try:
                        ring.unwrap(version, row.wrapped, aad)
                    except (IntegrityError, KeyUnavailableError):
                        continue
                    opened += 1
                    break
    finally:
        database.dispose()
    return opened


def test_shred_now_over_http_leaves_a_pre_erasure_backup_unopenable(
    served: LiveServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Before: the backup's keys open with today's KEK. After DELETE ?shred_now=true: none
    does, and no shred is left pending."""
    _ingest(served, "MRN-SHRED-1")
    backup = _backup_store(served, tmp_path / "backup.db")
    assert _keys_unwrapped(served, backup) > 0  # the harness can open a backup at all
    with served.client("admin") as admin:
        reply = admin.delete("/v1/subjects/MRN-SHRED-1", params={"shred_now": "true"})
    assert reply.status_code == 200 and reply.json()["deleted"] == 1
    assert _keys_unwrapped(served, backup) == 0
    assert served.appliance.keys.status().shreds_pending == 0


def test_erasure_without_shred_now_schedules_the_shred(served: LiveServer) -> None:  # noqa: F811
    """A plain erasure over HTTP records a pending shred (the backup window stays open until
    it runs)."""
    _ingest(served, "MRN-SHRED-2")
    with served.client("admin") as admin:
        assert admin.delete("/v1/subjects/MRN-SHRED-2").status_code == 200
    assert served.appliance.keys.status().shreds_pending == 1
