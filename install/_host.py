"""The installer's file-system steps: each changes only what differs, and says so.

Standard library only. ``Host`` knows the install root (``/`` on a real host, a throwaway
folder under ``--root``), who owns what, and whether it may call ``systemctl``.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _bundle import BundleError

SERVICE = "appliance.service"
CREDENTIAL_NAME = "appliance-kek"


@dataclass
class Host:
    """Paths under the install root, owners, and the log of changes made."""

    root: Path
    user: str
    systemctl: bool
    changes: list[str] = field(default_factory=list)

    def path(self, absolute: str) -> Path:
        """``absolute`` as seen under the install root."""
        return self.root / absolute.lstrip("/")

    @property
    def privileged(self) -> bool:
        """Running as root: owners are set; otherwise everything stays the caller's."""
        return os.geteuid() == 0

    def ids(self, service: bool) -> tuple[int, int]:
        """(uid, gid) for a service-owned file, or root's (the caller's when unprivileged)."""
        if not self.privileged:
            return os.geteuid(), os.getegid()
        if not service:
            return 0, 0
        entry = pwd.getpwnam(self.user)
        return entry.pw_uid, entry.pw_gid

    @property
    def group(self) -> str:
        """The service user's primary group."""
        try:
            return grp.getgrgid(pwd.getpwnam(self.user).pw_gid).gr_name
        except KeyError:
            return self.user

    def note(self, change: str) -> None:
        """Record (and print) one change."""
        self.changes.append(change)
        print(f"  {change}")

    # --- files and folders -----------------------------------------------------------
    def folder(
        self, absolute: str, mode: int, *, service: bool = False, group: bool = False
    ) -> Path:
        """Create a folder (and parents 0755) with this mode and owner, if not already so."""
        path = self.path(absolute)
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            self.note(f"created {absolute}/")
        self._own(path, mode, service, group)
        return path

    def file(
        self,
        absolute: str,
        content: bytes,
        mode: int,
        *,
        service: bool = False,
        group: bool = False,
        keep_existing: bool = False,
    ) -> Path:
        """Write a file when absent or different (never when ``keep_existing``)."""
        path = self.path(absolute)
        exists = path.is_file()
        if not (exists and (keep_existing or path.read_bytes() == content)):
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.new")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            temp.replace(path)
            self.note(f"{'updated' if exists else 'wrote'} {absolute}")
        self._own(path, mode, service, group)
        return path

    def _own(self, path: Path, mode: int, service: bool, group: bool) -> None:
        info = path.lstat()
        if info.st_mode & 0o7777 != mode:
            path.chmod(mode)
        if self.privileged:
            uid, gid = self.ids(service)
            if group:  # root-owned, readable by the service's group
                uid, gid = 0, self.ids(True)[1]
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(path, uid, gid, follow_symlinks=False)

    def own_tree(self, absolute: str) -> None:
        """Give everything under a service folder to the service user (after root wrote it)."""
        if not self.privileged:
            return
        uid, gid = self.ids(True)
        top = self.path(absolute)
        fixed = 0
        for path in [top, *top.rglob("*")]:
            info = path.lstat()
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(path, uid, gid, follow_symlinks=False)
                fixed += 1
        if fixed:
            self.note(f"gave {fixed} path(s) under {absolute} to {self.user}")

    def remove(self, absolute: str) -> None:
        """Remove a file or folder if present."""
        path = self.path(absolute)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            return
        self.note(f"removed {absolute}")

    # --- users and services ----------------------------------------------------------
    def ensure_user(self, create: bool) -> bool:
        """The service user exists afterwards; True when this run created it."""
        try:
            pwd.getpwnam(self.user)
            return False
        except KeyError:
            pass
        if not create or not self.privileged:
            raise BundleError(
                f"the service user {self.user!r} does not exist",
                "run as root without --no-create-user, or name an existing user with --user",
            )
        prefix = [] if str(self.root) == "/" else ["--prefix", str(self.root)]
        run(
            [
                "useradd",
                *prefix,
                "--system",
                "--user-group",
                "--home-dir",
                "/var/lib/appliance",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                self.user,
            ],
            "creating the service user failed",
        )
        grp.getgrnam(self.user)
        self.note(f"created system user {self.user}")
        return True

    def systemd(self, *args: str) -> None:
        """``systemctl ARGS`` unless --no-systemctl (then only said)."""
        if not self.systemctl:
            return
        run(["systemctl", *args], f"systemctl {' '.join(args)} failed")


def run(command: list[str], failure: str, *, env: dict[str, str] | None = None) -> str:
    """Run a command; a failure is a ``BundleError`` carrying its output."""
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-3000:]
        raise BundleError(
            f"{failure}:\n{output}", "fix the cause above and run the installer again"
        )
    return result.stdout


def intranet_drop_in(cidrs: list[str]) -> bytes:
    """The ``IPAddressAllow=`` drop-in for the hospital's client ranges (validated)."""
    networks = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise BundleError(
                f"--allow-cidr {text!r}: {exc}", "give a range like 10.20.0.0/16"
            ) from exc
        if network.prefixlen == 0:
            raise BundleError(
                f"--allow-cidr {text}: that is every address",
                "name the clients' subnets; the unit is meant to refuse the rest",
            )
        networks.append(str(network))
    lines = [
        "# Written by install/install (--allow-cidr): the hospital's client ranges that may",
        "# reach the API. The unit itself allows localhost only.",
        "[Service]",
        f"IPAddressAllow={' '.join(networks)}",
    ]
    return ("\n".join(lines) + "\n").encode()


def snapshot_data_dir(host: Host, data_dir: str, backups: str, from_version: str) -> Path:
    """A tar of the data dir taken while the service is stopped: the rollback point of an
    upgrade. Never the KEK (``keys/kek*``) and not the model weights (re-importable)."""
    source = host.path(data_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = host.path(backups) / f"pre-upgrade-{from_version}-{stamp}.tar"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if (
            len(parts) >= 2
            and parts[1] == "keys"
            and len(parts) >= 3
            and parts[2].startswith("kek")
        ):
            return None
        if len(parts) >= 3 and parts[1] == "models" and parts[2] != "manifest.json":
            return None
        return info

    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        tar.add(source, arcname="data", filter=keep)
    host.note(f"saved the data dir before upgrading: {target}")
    return target


def schema_version(database: Path) -> int:
    """The store's applied schema version (0: absent or never initialised); stdlib sqlite3."""
    import sqlite3

    if not database.is_file():
        return 0
    # immutable: no -wal/-shm files appear (the service is stopped or the number is settled)
    connection = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        row = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()
    return int(row[0] or 0)
