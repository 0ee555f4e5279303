"""`appliance backup` / `restore`: an encrypted, authenticated archive that holds no key,
restored into a fresh data dir with the KEK kept apart; tampering, a wrong KEK and a KEK
shred after an erasure each keep it from opening."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from appliance.crypto.kek import KekLocation, load_kek
from appliance.crypto.keyring import binding
from appliance.domain.types import Actor, Modality
from appliance.services.items import NewItem
from appliance.settings import Settings, load_settings
from appliance.wiring import init_appliance, open_appliance
from tests.conftest import run_appliance

OPERATOR = Actor.operator()
DIMENSION = 8
GONE, KEPT = "MRN-GONE-4411", "MRN-KEPT-4412"


@dataclass
class Site:
    """A production-shaped deployment: the KEK in keys.kek_file, outside the data dir."""

    root: Path
    kek_file: Path
    vectors: dict[str, np.ndarray]

    def settings(self, data_dir: Path) -> Settings:
        """Settings as the CLI builds them, on ``data_dir``."""
        return load_settings(
            data_dir=data_dir, environ={"APPLIANCE_KEYS__KEK_FILE": str(self.kek_file)}
        )

    @property
    def data(self) -> Path:
        """The live data dir."""
        return self.root / "data"


@pytest.fixture
def site(tmp_path: Path, isolated_cli: None, monkeypatch: pytest.MonkeyPatch) -> Site:
    """Initialised, a collection with items of GONE and KEPT, a snapshot written."""
    kek_file = tmp_path / "etc" / "keys" / "kek"
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(kek_file))
    site = Site(tmp_path, kek_file, {})
    settings = site.settings(site.data)
    init_appliance(settings, environ={})
    app = open_appliance(settings, environ={})
    app.collections.create("notes", DIMENSION, OPERATOR)
    rng = np.random.default_rng(11)
    for subject, prefix in ((GONE, "g"), (KEPT, "k")):
        batch = []
        for n in range(3):
            item_id = f"{prefix}-item-{n}"
            site.vectors[item_id] = rng.normal(size=DIMENSION).astype(np.float32)
            batch.append(
                NewItem(
                    subject_id=subject,
                    modality=Modality.TEXT,
                    vector=site.vectors[item_id],
                    metadata={"diagnosis": f"{prefix} pneumonia lobe {n}"},
                    item_id=item_id,
                )
            )
        app.items.store("notes", batch, actor=OPERATOR, space="s1")
    app.indexes.snapshot_all()
    app.close()
    return site


def _cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> tuple[int, str, str]:
    return run_appliance(capsys, "--data-dir", str(data_dir), *argv)


def _backup(capsys: pytest.CaptureFixture[str], site: Site, name: str) -> Path:
    archive = site.root / "backups" / name
    archive.parent.mkdir(exist_ok=True)
    code, out, err = _cli(capsys, site.data, "backup", "--output", str(archive), "--json")
    assert code == 0, err
    assert json.loads(out)["snapshots"] == 1
    return archive


def _found(site: Site, data_dir: Path, kek_file: Path | None = None) -> set[str]:
    """Item ids a search for each known vector returns as its nearest hit."""
    kek = str(kek_file or site.kek_file)
    settings = load_settings(data_dir=data_dir, environ={"APPLIANCE_KEYS__KEK_FILE": kek})
    app = open_appliance(settings, environ={})
    try:
        found = set()
        for item_id, vector in site.vectors.items():
            hits = app.items.search("notes", vector, k=1, actor=OPERATOR, space="s1")
            if hits and hits[0].item_id == item_id:
                assert hits[0].metadata["diagnosis"].endswith(item_id[-1])
                found.add(item_id)
        return found
    finally:
        app.close()


def _actions(data_dir: Path) -> list[str]:
    trail = (data_dir / "audit" / "trail.jsonl").read_text().splitlines()
    return [json.loads(line)["action"] for line in trail]


def test_round_trip_restores_searchable_items_and_an_intact_trail(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Backup, restore into a new dir with the same KEK: every item is found, audit verifies."""
    archive = _backup(capsys, site, "a.backup")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    fresh = site.root / "restored"
    code, out, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 0, err
    assert _found(site, fresh) == set(site.vectors)
    code, out, err = _cli(capsys, fresh, "audit", "verify")
    assert code == 0, out + err
    assert "backup.created" in _actions(site.data)
    assert "backup.restored" in _actions(fresh)
    assert not any(p.name == "kek" for p in fresh.rglob("*"))


def test_archive_holds_no_key_material_and_no_plaintext(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither the KEK (raw or base64), nor any unwrapped data key, nor an id, metadata
    value, file name or SQLite page is in the archive's bytes."""
    archive = _backup(capsys, site, "a.backup")
    blob = archive.read_bytes()
    ring = load_kek(KekLocation(site.kek_file, from_credentials=False))
    secrets: list[bytes] = []
    for kek in ring.keys.values():
        secrets += [kek, base64.b64encode(kek), kek.hex().encode()]
    connection = sqlite3.connect(site.data / "appliance.db")
    for kind, owner, version, kek_version, wrapped in connection.execute(
        "SELECT kind, owner, version, kek_version, wrapped FROM data_keys"
    ):
        data_key = ring.unwrap(kek_version, wrapped, binding(kind, owner, version, kek_version))
        secrets += [data_key, bytes(wrapped)]
    connection.close()
    assert len(secrets) > 6
    for secret in secrets:
        assert secret not in blob
    clear = [GONE, KEPT, "g-item-0", "k-item-2", "pneumonia", "diagnosis", "notes"]
    clear += ["appliance.db", "trail.jsonl", "SQLite format 3", "audit.genesis", "ustar"]
    for text in clear:
        assert text.encode() not in blob, text
    header = json.loads(blob[12 : 12 + int.from_bytes(blob[8:12], "big")])
    assert set(header) == {"format", "kek_version", "salt"}


@pytest.mark.parametrize("damage", ["flip-middle", "flip-last", "truncate", "append", "header"])
def test_tampered_or_truncated_archive_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """Any changed, missing or added byte refuses the restore; the data dir stays empty."""
    archive = _backup(capsys, site, "a.backup")
    blob = bytearray(archive.read_bytes())
    if damage == "flip-middle":
        blob[len(blob) // 2] ^= 0x01
    elif damage == "flip-last":
        blob[-1] ^= 0x80
    elif damage == "truncate":
        del blob[-100:]
    elif damage == "append":
        blob += b"\0" * 32
    else:
        blob[:] = blob.replace(b'"kek_version": 1', b'"kek_version": 1 ')
    archive.write_bytes(bytes(blob))
    fresh = site.root / "restored"
    code, _, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 1 and "backup archive" in err
    assert not fresh.exists() or not any(fresh.iterdir())


def test_restore_with_a_wrong_kek_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another appliance's KEK (same version number) does not open the archive."""
    archive = _backup(capsys, site, "a.backup")
    other_kek = site.root / "other" / "kek"
    other = load_settings(
        data_dir=site.root / "other-data", environ={"APPLIANCE_KEYS__KEK_FILE": str(other_kek)}
    )
    init_appliance(other, environ={})
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(other_kek))
    fresh = site.root / "restored"
    code, _, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 1 and "failed authentication" in err and "not the KEK" in err
    assert not fresh.exists()


def test_restore_refuses_a_non_empty_data_dir(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Restore never merges into, or overwrites, a data dir that holds anything."""
    archive = _backup(capsys, site, "a.backup")
    code, _, err = _cli(capsys, site.data, "restore", str(archive))
    assert code == 2 and "not empty" in err
    busy = site.root / "busy"
    busy.mkdir()
    (busy / "note.txt").write_text("x")
    code, _, err = _cli(capsys, busy, "restore", str(archive))
    assert code == 2 and sorted(p.name for p in busy.iterdir()) == ["note.txt"]


def test_erased_subject_does_not_come_back_from_an_older_backup_after_the_shred(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After erasure and `keys shred`, the pre-erasure backup no longer restores with the
    KEK the appliance holds; a backup taken after it restores without the subject. Control:
    a copy of the pre-shred KEK still brings the subject back (why KEK copies must rotate)."""
    before = _backup(capsys, site, "before.backup")
    old_kek = site.root / "old-kek"
    shutil.copy(site.kek_file, old_kek)
    ids = site.root / "ids.txt"
    ids.write_text(GONE + "\n")
    code, out, err = _cli(capsys, site.data, "subjects", "delete", "--file", str(ids))
    assert code == 0 and json.loads(out)["deleted"] == 3, err
    code, out, err = _cli(capsys, site.data, "keys", "shred")
    assert code == 0 and "nothing due (1 pending" in out
    code, out, err = _cli(capsys, site.data, "keys", "shred", "--force")
    assert code == 0 and "shredded: KEK version 1 -> 2" in out, err

    code, _, err = _cli(capsys, site.root / "r1", "restore", str(before))
    assert code == 1 and "KEK version 1" in err and "no" in err
    assert not (site.root / "r1").exists()

    after = _backup(capsys, site, "after.backup")
    code, _, err = _cli(capsys, site.root / "r2", "restore", str(after))
    assert code == 0, err
    assert _found(site, site.root / "r2") == {f"k-item-{n}" for n in range(3)}

    control, control_kek = site.root / "r3", site.root / "r3-etc" / "kek"
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(control_kek))
    code, out, err = _cli(capsys, control, "restore", str(before), "--kek-file", str(old_kek))
    assert code == 0 and str(control_kek) in out, err
    assert _found(site, control, control_kek) == set(site.vectors)


def test_development_default_kek_stays_out_and_is_placed_from_kek_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_cli: None
) -> None:
    """With the KEK inside the data dir the archive still leaves it out; restore needs
    --kek-file and writes it to the new data dir's keys/kek (0600)."""
    data = tmp_path / "data"
    assert _cli(capsys, data, "init")[0] == 0
    backups = tmp_path / "backups"
    backups.mkdir()
    code, _, err = _cli(capsys, data, "backup", "-o", str(backups))
    assert code == 0, err
    (archive,) = backups.glob("appliance-*.backup")  # a directory gets a dated file
    kek = (data / "keys" / "kek").read_bytes()
    ring = load_kek(KekLocation(data / "keys" / "kek", from_credentials=False))
    assert all(base64.b64encode(k) not in archive.read_bytes() for k in ring.keys.values())
    assert kek not in archive.read_bytes()
    fresh = tmp_path / "fresh"
    code, _, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 1 and "--kek-file" in err and not fresh.exists()
    code, _, err = _cli(
        capsys, fresh, "restore", str(archive), "--kek-file", str(data / "keys" / "kek")
    )
    assert code == 0, err
    placed = fresh / "keys" / "kek"
    assert placed.read_bytes() and stat.S_IMODE(placed.stat().st_mode) == 0o600
    assert _cli(capsys, fresh, "audit", "verify")[0] == 0


def test_restore_under_a_witness_that_moved_on_is_refused_until_it_is_set_aside(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore rolls the trail back; with the old witness in place that is refused (and
    undone); with the witness moved aside and a new one configured it goes through."""
    witness = site.root / "witness" / "checkpoints.jsonl"
    witness.parent.mkdir()
    monkeypatch.setenv("APPLIANCE_AUDIT__WITNESS_PATH", str(witness))
    archive = _backup(capsys, site, "a.backup")
    assert witness.is_file()
    fresh = site.root / "restored"
    code, _, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 1 and "roll the audit trail back behind its witness" in err, err
    assert not fresh.exists()
    monkeypatch.setenv("APPLIANCE_AUDIT__WITNESS_PATH", str(witness.with_name("new.jsonl")))
    code, _, err = _cli(capsys, fresh, "restore", str(archive))
    assert code == 0, err
    code, out, err = _cli(capsys, fresh, "audit", "verify")
    assert code == 0, out + err
