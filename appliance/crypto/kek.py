"""The key encryption key (KEK) ring, read from a credential file, never from config.

Where it lives: ``$CREDENTIALS_DIRECTORY/appliance-kek`` when systemd provides it (the
unit's ``LoadCredentialEncrypted=``), else the file named by the ``keys.kek_file`` setting
(production: outside the data dir, e.g. ``/etc/appliance/keys/kek``), else
``<data-dir>/keys/kek`` (mode 0600, created by ``appliance init``; a development default,
since every copy of the data dir then carries the key). The file holds every KEK version
still referenced, which one new wraps use, and, during a rotation, the pending version.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from appliance.crypto.aead import KEY_BYTES, new_key, open_sealed, seal
from appliance.errors import ConfigError, KeyUnavailableError

CREDENTIAL_NAME = "appliance-kek"
FORMAT = "appliance-kek/1"


@dataclass(frozen=True)
class KekLocation:
    """Where the KEK ring was found and whether this process may rewrite it."""

    path: Path
    from_credentials: bool
    inside_data_dir: bool = False
    """The development default: copies of the data dir (backups) carry the KEK."""

    @property
    def writable(self) -> bool:
        """systemd credentials are read-only; a KEK file is ours to rewrite."""
        return not self.from_credentials


def locate_kek(
    data_dir: Path, environ: Mapping[str, str] | None = None, *, kek_file: str | Path = ""
) -> KekLocation:
    """Find the KEK file: the systemd credential, the ``keys.kek_file`` setting, the data dir."""
    env = os.environ if environ is None else environ
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        candidate = Path(credentials) / CREDENTIAL_NAME
        if candidate.is_file():
            return KekLocation(candidate, from_credentials=True)
    if kek_file:
        path = Path(kek_file).expanduser()
        inside = path.resolve().is_relative_to(data_dir.resolve())
        return KekLocation(path, from_credentials=False, inside_data_dir=inside)
    return KekLocation(data_dir / "keys" / "kek", from_credentials=False, inside_data_dir=True)


@dataclass(frozen=True)
class KekRing:
    """All live KEK versions; ``active`` wraps new keys unless a rotation is ``pending``."""

    keys: Mapping[int, bytes]
    active: int
    pending: int | None = None
    location: KekLocation | None = field(default=None, compare=False)

    @property
    def wrapping_version(self) -> int:
        """The version new wraps use: the pending one during a rotation, so it never lags."""
        return self.pending if self.pending is not None else self.active

    def key(self, version: int) -> bytes:
        """The KEK of ``version``, or ``KeyUnavailableError`` if the ring no longer holds it."""
        try:
            return self.keys[version]
        except KeyError as exc:
            raise KeyUnavailableError(
                f"KEK version {version} is not in the key file",
                remedy="restore the KEK file from the backup taken before the last rotation",
            ) from exc

    def wrap(self, secret: bytes, associated_data: bytes) -> tuple[int, bytes]:
        """Wrap a data key under the current wrapping version; returns (version, wrapped)."""
        version = self.wrapping_version
        return version, seal(self.key(version), secret, associated_data)

    def unwrap(self, version: int, wrapped: bytes, associated_data: bytes) -> bytes:
        """Unwrap a data key; tampering or a mismatched binding raises ``IntegrityError``."""
        return open_sealed(self.key(version), wrapped, associated_data, what="wrapped data key")

    def begin_rotation(self) -> KekRing:
        """A ring with a fresh pending version (or self, if a rotation is already under way)."""
        if self.pending is not None:
            return self
        version = max(self.keys) + 1
        return replace(self, keys={**self.keys, version: new_key()}, pending=version)

    def finish_rotation(self, still_referenced: set[int]) -> KekRing:
        """Promote the pending version and drop versions no wrapped key references."""
        if self.pending is None:
            return self
        keep = {v: k for v, k in self.keys.items() if v == self.pending or v in still_referenced}
        return replace(self, keys=keep, active=self.pending, pending=None)


def create_kek(location: KekLocation) -> KekRing:
    """Create a new ring with version 1; never overwrites an existing file."""
    if location.path.exists():
        return load_kek(location)
    if not location.writable:
        raise ConfigError(f"KEK credential {location.path} is read-only and missing")
    ring = KekRing(keys={1: new_key()}, active=1, location=location)
    write_kek(ring, location, exclusive=True)
    return ring


def load_kek(location: KekLocation) -> KekRing:
    """Read and validate the KEK ring; refuses a group- or world-readable data-dir file."""
    path = location.path
    if not path.is_file():
        raise KeyUnavailableError(
            f"no key encryption key at {path}",
            remedy="run `appliance init` (or provide the systemd credential appliance-kek)",
        )
    if not location.from_credentials and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise KeyUnavailableError(
            f"key file {path} is readable by group or others",
            remedy=f"chmod 600 {path}",
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError("unknown format")
        keys = {int(v): base64.b64decode(k, validate=True) for v, k in document["keys"].items()}
        active = int(document["active"])
        pending = None if document.get("pending") is None else int(document["pending"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailableError(
            f"key file {path} is not a valid appliance KEK ring ({exc})",
            remedy="restore it from backup; a damaged KEK makes every stored item unreadable",
        ) from exc
    if any(len(k) != KEY_BYTES for k in keys.values()) or active not in keys:
        raise KeyUnavailableError(f"key file {path} has a malformed key or active version")
    if pending is not None and pending not in keys:
        raise KeyUnavailableError(f"key file {path} names a pending version it lacks")
    return KekRing(keys=keys, active=active, pending=pending, location=location)


def write_kek(ring: KekRing, location: KekLocation, *, exclusive: bool = False) -> None:
    """Write the ring atomically (0600 temp file, fsync, rename, fsync the directory)."""
    if not location.writable:
        raise KeyUnavailableError(
            f"KEK {location.path} comes from a systemd credential and cannot be rewritten",
            remedy=(
                "copy it to <data-dir>/keys/kek (0600), run `appliance keys rotate` without "
                "CREDENTIALS_DIRECTORY, then re-encrypt the result with systemd-creds"
            ),
        )
    path = location.path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {
        "format": FORMAT,
        "active": ring.active,
        "pending": ring.pending,
        "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(ring.keys.items())},
    }
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(document, indent=1).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if exclusive:
        try:
            os.link(temp, path)
        finally:
            temp.unlink()
    else:
        temp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
