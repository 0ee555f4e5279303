"""The offline bundle and the installer, end to end in throwaway roots.

A bundle is built from this checkout (the appliance wheel only, plus one small model
folder; the dependencies come from the test's own environment through --deps-from), and
installed with the real scripts as subprocesses: files, owners and modes; a second run
changing nothing; a tampered or wrongly signed bundle refused; an upgrade across a schema
migration that saves the data dir first and keeps the data; uninstall with and without
--purge."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "install" / "build-bundle"
INSTALL = REPO / "install" / "install"
CIDR_GIVEN, CIDR_ALLOWED = "10.20.1.7/16", "10.20.0.0/16"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Bundle:
    """A built bundle, its checksum and signature, and the public key that checks it."""

    tarball: Path
    public_key: Path
    private_key: Path


def _service_user() -> str:
    """``nobody`` when root (owners really change); the caller otherwise."""
    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def clean_env() -> dict[str, str]:
    """The environment without this checkout's PYTHONPATH or appliance settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "PYTHON"))}


def run_install(root: Path, bundle: Bundle | None, *extra: str) -> subprocess.CompletedProcess:
    """Run install/install as a subprocess into ``root`` (no user creation, no systemctl)."""
    argv = [sys.executable, str(INSTALL)]
    if bundle is not None:
        argv += [str(bundle.tarball), "--verify-key", str(bundle.public_key)]
    argv += [
        "--root", str(root), "--user", _service_user(), "--no-create-user", "--no-systemctl",
        "--python", sys.executable, "--deps-from", sysconfig.get_paths()["purelib"], *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=clean_env())


def _model_folder(path: Path) -> Path:
    """A tiny adapter folder (safetensors + adapter.json): what a real checkpoint folder is,
    small."""
    path.mkdir(parents=True)
    save_file({"weight": np.eye(4, dtype=np.float32)}, str(path / "adapter.safetensors"))
    meta = {"format": "appliance-adapter/1", "from_model": "tiny", "modality": "audio",
            "in_dim": 4, "out_dim": 4, "kind": "linear"}  # fmt: skip
    (path / "adapter.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A signed bundle of this checkout: appliance wheel only, one model folder."""
    work = tmp_path_factory.mktemp("bundle")
    key = work / "staging.pem"
    subprocess.run([sys.executable, str(BUILD), "--generate-key", str(key)], check=True)
    model = _model_folder(work / "src" / "tiny-adapter")
    out = subprocess.run(
        [sys.executable, str(BUILD), "--output", str(work / "out"), "--no-deps-wheelhouse",
         "--models", str(model), "--signing-key", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    tarball = Path(out.stdout.splitlines()[0])
    return Bundle(tarball, key.with_name("staging.pem.pub"), key)


@pytest.fixture(scope="module")
def installed(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh install under a throwaway root."""
    root = tmp_path_factory.mktemp("root")
    result = run_install(root, bundle, "--allow-cidr", CIDR_GIVEN)
    assert result.returncode == 0, result.stderr + result.stdout
    return root


def tree(root: Path) -> list[tuple[str, str, int, int, int, str]]:
    """Every path under ``root``: kind, mode, owner, group, and content hash."""
    out = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            kind, digest = "link", os.readlink(path)
        elif path.is_dir():
            kind, digest = "dir", ""
        else:
            kind, digest = "file", hashlib.sha256(path.read_bytes()).hexdigest()
        rel = str(path.relative_to(root))
        out.append((rel, kind, info.st_mode & 0o7777, info.st_uid, info.st_gid, digest))
    return out


def copy_root(source: Path, target: Path) -> Path:
    """A copy of an installed root whose config names the copy's own paths (its venv's
    scripts still run the original venv: the same installed code)."""
    shutil.copytree(source, target, symlinks=True)
    config = target / "etc/appliance/appliance.toml"
    config.write_text(config.read_text().replace(str(source), str(target)))
    return target


def _owner(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, info.st_mode & 0o7777


def test_fresh_install_lays_out_files_owners_and_modes(installed: Path) -> None:
    """Data dir 0700 and KEK 0600 owned by the service user, outside the data dir; config
    readable by the service group only; every unit shipped; the intranet drop-in written;
    the venv runs its own installed copy of the code, not this checkout."""
    service = pwd.getpwnam(_service_user())
    svc = (service.pw_uid, service.pw_gid)
    root_uid = 0 if os.geteuid() == 0 else os.geteuid()
    assert _owner(installed / "var/lib/appliance") == (*svc, 0o700)
    assert _owner(installed / "etc/appliance/keys") == (*svc, 0o700)
    assert _owner(installed / "etc/appliance/keys/kek") == (*svc, 0o600)
    assert not (installed / "var/lib/appliance/keys/kek").exists()
    assert _owner(installed / "etc/appliance/appliance.toml")[0] == root_uid
    assert _owner(installed / "etc/appliance/appliance.toml")[2] == 0o640
    assert _owner(installed / "var/lib/appliance-witness") == (*svc, 0o700)
    for path in (installed / "var/lib/appliance").rglob("*"):
        assert (path.lstat().st_uid, path.lstat().st_gid) == svc, path
        assert path.lstat().st_mode & 0o077 == 0, f"{path} is open to group or others"
    units = installed / "etc/systemd/system"
    for unit in sorted((REPO / "systemd").glob("appliance*.*")):
        if unit.is_file():
            assert (units / unit.name).read_bytes() == unit.read_bytes()
            assert _owner(units / unit.name)[2] == 0o644
    drop_in = (units / "appliance.service.d/10-intranet.conf").read_text()
    assert f"IPAddressAllow={CIDR_ALLOWED}\n" in drop_in
    assert (
        "LoadCredentialEncrypted=\n" in (units / "appliance.service.d/20-kek-file.conf").read_text()
    )
    assert (installed / "etc/appliance/policies/hipaa.toml").is_file()
    models = json.loads((installed / "var/lib/appliance/models/manifest.json").read_text())
    assert "tiny-adapter" in models["models"]
    state = json.loads((installed / "opt/appliance/INSTALLED.json").read_text())
    assert state["kek_store"] == "file" and state["version"]
    where = subprocess.run(
        [str(installed / "opt/appliance/.venv/bin/python"), "-I", "-c",
         "import appliance; print(appliance.__file__)"],
        capture_output=True, text=True, check=True, cwd=installed,
    )  # fmt: skip
    assert where.stdout.startswith(str(installed / "opt/appliance/.venv")), "not installed code"


def test_second_run_changes_nothing(installed: Path, bundle: Bundle) -> None:
    """Running the same install again leaves every path, mode, owner and byte as it was."""
    before = tree(installed)
    result = run_install(installed, bundle, "--allow-cidr", CIDR_GIVEN)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert tree(installed) == before


def test_tampered_or_wrongly_signed_bundle_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    """A flipped byte fails the checksum; a re-made checksum fails the signature; another
    staging key fails too. Each refusal names a remedy and writes nothing."""
    root = tmp_path / "root"
    copy = tmp_path / bundle.tarball.name
    shutil.copy(bundle.tarball, copy)
    shutil.copy(f"{bundle.tarball}.sha256", f"{copy}.sha256")
    shutil.copy(f"{bundle.tarball}.sig", f"{copy}.sig")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    flipped = run_install(root, Bundle(copy, bundle.public_key, bundle.private_key))
    assert flipped.returncode == 2 and "does not match its checksum" in flipped.stderr
    assert "remedy:" in flipped.stderr
    # the attacker also rewrites the checksum file: the signature no longer matches it
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    Path(f"{copy}.sha256").write_text(f"{digest}  {copy.name}\n")
    resigned = run_install(root, Bundle(copy, bundle.public_key, bundle.private_key))
    assert resigned.returncode == 2 and "signature" in resigned.stderr
    other = tmp_path / "other.pem"
    subprocess.run([sys.executable, str(BUILD), "--generate-key", str(other)], check=True)
    wrong_key = run_install(root, Bundle(bundle.tarball, Path(f"{other}.pub"), other))
    assert wrong_key.returncode == 2 and "does not verify" in wrong_key.stderr
    assert not root.exists() or not any(root.iterdir())


def test_refusals_before_anything_is_written(
    installed: Path, bundle: Bundle, tmp_path: Path
) -> None:
    """Every address as the intranet range, an upgrade with nothing installed, and another
    version installed without --upgrade are refused with a remedy; nothing changes."""
    empty = tmp_path / "empty"
    everyone = run_install(empty, bundle, "--allow-cidr", "0.0.0.0/0")
    assert everyone.returncode == 2 and "every address" in everyone.stderr
    nothing = run_install(empty, bundle, "--upgrade")
    assert nothing.returncode == 2 and "nothing is installed" in nothing.stderr
    assert not empty.exists() or not any(empty.iterdir())
    root = copy_root(installed, tmp_path / "root")
    state_file = root / "opt/appliance/INSTALLED.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "version": "0.0.1"}))
    before = tree(root)
    other = run_install(root, bundle)
    assert other.returncode == 2 and "pass --upgrade" in other.stderr
    assert tree(root) == before


def test_openssl_fallback_checks_the_same_signature(bundle: Bundle) -> None:
    """Without python cryptography on the host, openssl verifies the signature, and refuses
    a changed message."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed here")
    sys.path.insert(0, str(REPO / "install"))
    try:
        from _bundle import _verify_with_openssl
    finally:
        sys.path.remove(str(REPO / "install"))
    message = Path(f"{bundle.tarball}.sha256").read_bytes()
    signature = Path(f"{bundle.tarball}.sig").read_bytes()
    assert _verify_with_openssl(message, signature, bundle.public_key) is True
    assert _verify_with_openssl(message + b" ", signature, bundle.public_key) is False


def _old_schema_data_dir(root: Path) -> None:
    """Re-create the installed data dir at schema version 4 with a collection in it."""
    from appliance.domain.types import Actor
    from appliance.settings import load_settings
    from appliance.store import migrations
    from appliance.wiring import init_appliance, open_appliance

    data_dir = root / "var/lib/appliance"
    shutil.rmtree(data_dir)
    environ = {"APPLIANCE_KEYS__KEK_FILE": str(root / "etc/appliance/keys/kek")}
    settings = load_settings(data_dir=data_dir, environ=environ)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        patch.setattr(migrations, "LATEST_VERSION", 4)
        init_appliance(settings, environ={})
        app = open_appliance(settings, environ={})
        try:
            app.collections.create("kept-notes", 8, actor=Actor.operator())
        finally:
            app.close()


def test_upgrade_across_a_schema_migration_saves_first_and_keeps_data(
    installed: Path, bundle: Bundle, tmp_path: Path
) -> None:
    """--upgrade over a data dir at schema 4: a tar of the data dir at version 4 (without
    the KEK) is saved first, the migration runs, the collection and the KEK are kept."""
    from appliance.store.migrations import LATEST_VERSION

    root = copy_root(installed, tmp_path / "root")
    kek_before = (root / "etc/appliance/keys/kek").read_bytes()
    _old_schema_data_dir(root)
    result = run_install(root, bundle, "--upgrade")
    assert result.returncode == 0, result.stderr + result.stdout
    saved = sorted((root / "var/backups/appliance").glob("pre-upgrade-*.tar"))
    assert len(saved) == 1 and saved[0].stat().st_mode & 0o077 == 0
    with tarfile.open(saved[0]) as tar:
        names = tar.getnames()
        assert "data/appliance.db" in names
        assert not [n for n in names if n.startswith("data/keys/kek")]
        tar.extract("data/appliance.db", tmp_path / "saved", filter="data")
    assert _schema(tmp_path / "saved/data/appliance.db") == 4
    assert _schema(root / "var/lib/appliance/appliance.db") == LATEST_VERSION
    assert (root / "etc/appliance/keys/kek").read_bytes() == kek_before
    status = subprocess.run(
        [str(root / "opt/appliance/.venv/bin/appliance"), "--config",
         str(root / "etc/appliance/appliance.toml"), "status", "--json"],
        capture_output=True, text=True, check=False, env=clean_env(), cwd=root,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert [c["name"] for c in summary["collections"]] == ["kept-notes"]
    assert summary["audit"]["intact"] is True and summary["kek"]["inside_data_dir"] is False
    assert summary["format"]["schema_version"] == LATEST_VERSION


def _schema(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])


def test_uninstall_keeps_data_and_keys_unless_purged(installed: Path, tmp_path: Path) -> None:
    """--uninstall removes units and software but keeps data and the KEK; --purge removes
    both."""
    root = copy_root(installed, tmp_path / "root")
    result = run_install(root, None, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not (root / "opt/appliance").exists()
    assert not list((root / "etc/systemd/system").glob("appliance*"))
    assert (root / "var/lib/appliance/appliance.db").is_file()
    assert (root / "etc/appliance/keys/kek").is_file()
    purged = run_install(root, None, "--uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (root / "var/lib/appliance").exists()
    assert not (root / "etc/appliance").exists()


@pytest.fixture(autouse=True)
def _no_config_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The in-process parts of these tests read no site config or credentials."""
    for name in ("APPLIANCE_CONFIG", "CREDENTIALS_DIRECTORY", "APPLIANCE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    yield


def test_installed_units_and_drop_ins_pass_systemd_analyze(installed: Path, tmp_path: Path) -> None:
    """The units as installed, with the installer's intranet and KEK-file drop-ins, are
    `systemd-analyze verify` clean, and the server still scores at most 1.5."""
    tool = shutil.which("systemd-analyze")
    system_units = Path("/usr/lib/systemd/system")
    if tool is None or not system_units.is_dir():
        pytest.skip("systemd-analyze or the system unit directory is absent on this host")
    root = copy_root(installed, tmp_path / "root")
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    units = sorted(
        str(p) for p in (root / "etc/systemd/system").glob("appliance*.*") if p.is_file()
    )
    shim = root / "opt/appliance/.venv/bin/appliance"  # ExecStart must exist under the root
    assert shim.is_file()
    verify = subprocess.run(
        [tool, "verify", f"--root={root}", *units], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0 and not (verify.stdout + verify.stderr).strip(), (
        verify.stdout + verify.stderr
    )
    security = subprocess.run(
        [tool, "security", "--offline=yes", f"--root={root}", "--no-pager", "appliance.service"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    level = security.stdout.rsplit("Overall exposure level for appliance.service: ", 1)[1]
    assert float(level.split()[0]) <= 1.5
