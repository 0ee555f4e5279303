"""A backup taken before an erasure, opened with everything the appliance still holds
afterwards (the current KEK file, the current database and its keys), yields nothing of
the erased subject once the KEK has been shredded: no metadata, no vector, no old index
snapshot. Before the shred the backup still opens (the documented window).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from appliance.clock import FixedClock
from appliance.crypto.kek import KekLocation, load_kek
from appliance.crypto.keyring import binding
from appliance.crypto.records import RecordBinding, open_item_fields, open_item_vector
from appliance.domain.types import Actor, Modality
from appliance.errors import IntegrityError, KeyUnavailableError
from appliance.index import load_snapshot
from appliance.services.items import NewItem
from appliance.settings import Settings, load_settings
from appliance.store import keys as key_rows
from appliance.store.database import Database, create_store_engine
from appliance.store.schema import collections, items
from appliance.wiring import Appliance, init_appliance, open_appliance
from tests.conftest import run_appliance

OPERATOR = Actor.operator()
DIMENSION = 8
GONE, KEPT = "MRN-GONE-771", "MRN-KEPT-772"


@dataclass
class Deployment:
    """A data dir whose KEK lives outside it (keys.kek_file), as in production."""

    settings: Settings
    kek_file: Path
    clock: FixedClock

    def open(self) -> Appliance:
        """Open the appliance as the server would."""
        return open_appliance(self.settings, clock=self.clock, environ={})


@pytest.fixture
def deployment(tmp_path: Path, clock: FixedClock) -> Deployment:
    """Initialised, with GONE and KEPT items and a snapshot; the KEK outside the data dir."""
    kek_file = tmp_path / "etc" / "keys" / "kek"
    settings = load_settings(
        data_dir=tmp_path / "data", environ={"APPLIANCE_KEYS__KEK_FILE": str(kek_file)}
    )
    init_appliance(settings, clock=clock, environ={})
    assert kek_file.is_file() and not (settings.data_dir / "keys" / "kek").exists()
    app = open_appliance(settings, clock=clock, environ={})
    app.collections.create("notes", DIMENSION, OPERATOR)
    rng = np.random.default_rng(5)
    for subject, prefix in ((GONE, "g"), (KEPT, "k")):
        batch = [
            NewItem(
                subject_id=subject,
                modality=Modality.TEXT,
                vector=rng.normal(size=DIMENSION).astype(np.float32),
                metadata={"diagnosis": f"{prefix} diagnosis {n}"},
                item_id=f"{prefix}{n}",
            )
            for n in range(3)
        ]
        app.items.store("notes", batch, actor=OPERATOR, space="s1")
    app.indexes.snapshot_all()
    app.close()
    return Deployment(settings, kek_file, clock)


@pytest.fixture
def backup(deployment: Deployment, tmp_path: Path) -> Path:
    """A copy of the whole data dir taken before the erasure (the KEK is not in it)."""
    copy = tmp_path / "backup"
    shutil.copytree(deployment.settings.data_dir, copy)
    return copy


def _database(path: Path) -> Iterator[Database]:
    database = Database(create_store_engine(f"sqlite:///{path}"))
    try:
        yield database
    finally:
        database.dispose()


def _keys_an_attacker_holds(deployment: Deployment, backup: Path) -> list[tuple[int, bytes]]:
    """Every (version, key) the current KEK unwraps from the current store or the backup."""
    ring = load_kek(KekLocation(deployment.kek_file, from_credentials=False))
    found: list[tuple[int, bytes]] = []
    for db_path in (deployment.settings.data_dir / "appliance.db", backup / "appliance.db"):
        for database in _database(db_path):
            with database.read() as connection:
                for row in key_rows.iter_all(connection):
                    for kek_version in ring.keys:  # any KEK version, not only the recorded one
                        aad = binding(row.kind, row.owner, row.version, row.kek_version)
                        try:
                            found.append((row.version, ring.unwrap(kek_version, row.wrapped, aad)))
                        except (IntegrityError, KeyUnavailableError):
                            continue
    return found


def _opened_from_backup(keys: list[tuple[int, bytes]], backup: Path) -> dict[str, set[str]]:
    """What of each subject's items in the backup opens with ``keys``: {prefix: {parts}}.

    Rows are opened exactly as the appliance opens them (their record binding); a row is
    attributed by the client id sealed in it, or to "?" when only its vector opens."""
    opened: dict[str, set[str]] = {"g": set(), "k": set(), "?": set()}
    for database in _database(backup / "appliance.db"):
        with database.read() as connection:
            query = select(items, collections.c.name).join(
                collections, collections.c.id == items.c.collection_id
            )
            for row in connection.execute(query):
                binding = RecordBinding.of_row(row, row.name)
                parts: set[str] = set()
                owner = "?"
                for _, key in keys:
                    try:
                        client_id, _ = open_item_fields(key, bytes(row.metadata_ct), binding)
                        parts.add("metadata")
                        owner = (client_id or "?")[0]
                    except IntegrityError:
                        pass
                    try:
                        open_item_vector(key, bytes(row.vector_ct), binding)
                        parts.add("vector")
                    except IntegrityError:
                        pass
                opened[owner] |= parts
    return opened


def _old_snapshot_opens(keys: list[tuple[int, bytes]], backup: Path) -> bool:
    path = backup / "index" / "notes" / "s1.snap"
    assert path.is_file()
    for _, key in keys:
        try:
            load_snapshot(path, key, collection="notes", space="s1")
        except IntegrityError:
            continue
        return True
    return False


def test_backup_before_shred_still_opens_the_window(deployment: Deployment, backup: Path) -> None:
    """Until the KEK rotates, the backup plus today's KEK opens the erased subject (the
    window docs/security.md states): the attack harness works."""
    app = deployment.open()
    assert app.erasure.erase_subject(GONE, actor=OPERATOR) == 3
    assert app.keys.status().shreds_pending == 1
    app.close()
    keys = _keys_an_attacker_holds(deployment, backup)
    assert _opened_from_backup(keys, backup)["g"] == {"metadata", "vector"}
    assert _old_snapshot_opens(keys, backup)


def test_shred_now_leaves_a_pre_erasure_backup_unreadable(
    deployment: Deployment,
    backup: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`subjects delete --shred-now`: afterwards no key the appliance holds opens the erased
    subject's metadata, vector or the old index snapshot in the backup; KEPT still opens."""
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(deployment.kek_file))
    ids = tmp_path / "ids.txt"
    ids.write_text(GONE + "\n")
    code, out, err = run_appliance(
        capsys,
        "--data-dir",
        str(deployment.settings.data_dir),
        "subjects",
        "delete",
        "--file",
        str(ids),
        "--shred-now",
    )
    assert code == 0, err
    assert '"deleted": 3' in out and '"shredded": true' in out and GONE not in out + err
    keys = _keys_an_attacker_holds(deployment, backup)
    opened = _opened_from_backup(keys, backup)
    assert opened["g"] == set() and opened["?"] == set()
    assert opened["k"] == {"metadata", "vector"}  # positive control: the harness can open
    assert not _old_snapshot_opens(keys, backup)


def test_shred_now_on_a_node_that_does_not_rotate_names_the_designated_node(
    deployment: Deployment,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--shred-now` where keys.rotate_on_this_node is off: exit 1, the erasure done, the
    shred left pending, and the error says which node must rotate (not a credential hint)."""
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(deployment.kek_file))
    monkeypatch.setenv("APPLIANCE_KEYS__ROTATE_ON_THIS_NODE", "no")
    ids = tmp_path / "ids.txt"
    ids.write_text(GONE + "\n")
    args = ("--data-dir", str(deployment.settings.data_dir), "subjects", "delete")
    code, out, err = run_appliance(capsys, *args, "--file", str(ids), "--shred-now")
    assert code == 1 and '"deleted": 3' in out and '"shredded": false' in out
    assert "designated node" in err and "credential" not in err
    app = deployment.open()
    assert app.keys.status().shreds_pending == 1
    app.close()


def test_scheduled_shred_runs_on_the_server_timer(deployment: Deployment, backup: Path) -> None:
    """With keys.shred_after_erasure_hours (24 h), the server's maintenance tick does nothing
    before the deadline and retires the old KEK once it has passed."""
    app = deployment.open()
    app.erasure.erase_subject(GONE, actor=OPERATOR)
    deployment.clock.advance(timedelta(hours=23))
    app.maintain()
    assert app.keys.status().shreds_pending == 1
    deployment.clock.advance(timedelta(hours=2))
    app.maintain()
    status = app.keys.status()
    assert status.shreds_pending == 0 and status.versions == (2,)
    app.close()
    keys = _keys_an_attacker_holds(deployment, backup)
    assert _opened_from_backup(keys, backup) == {
        "g": set(),
        "k": {"metadata", "vector"},
        "?": set(),
    }
    assert not _old_snapshot_opens(keys, backup)
