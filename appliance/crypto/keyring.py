"""Data keys: per-subject, per-index and system keys, wrapped by the KEK ring.

Each data key is wrapped with AES-256-GCM under the KEK, its associated data binding
the key's kind, owner (a subject pseudonym, or a collection/space), its own version
and the KEK version, so a wrapped key moved to another owner or row fails to unwrap.
Unwrapped keys are cached in memory only; destroying a key drops it from the cache.

Several processes share the store (the server, CLI commands): a key handed out for a new
seal is checked against its row in the caller's write transaction, so a key destroyed or
replaced by another process is never used to seal again (a fresh one is made instead),
and the KEK ring is re-read when its file changed (another process rotated it).

Several nodes share a PostgreSQL store, each with its own copy of the ring: the store's KEK
version is the one the system pseudonym key is wrapped under (a rotation moves that key
first). A node whose ring lacks it never wraps a new key under an older version (the others
could not open it once they retire that version) and never reads a key it cannot unwrap as
"erased": both raise ``KekRingStaleError``, and ``ring_problem`` tells readiness.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection

from appliance.clock import Clock
from appliance.crypto.aead import new_key
from appliance.crypto.kek import KekRing, load_kek
from appliance.errors import ApplianceError, IntegrityError, KeyUnavailableError
from appliance.store import keys as key_rows
from appliance.store.database import TRANSACTION_SCRATCH as _VERIFIED
from appliance.store.keys import WrappedKeyRow


class KeyKind(StrEnum):
    """What a data key protects."""

    SUBJECT = "subject"
    INDEX = "index"
    PSEUDONYM = "pseudonym"
    AUDIT_SIGNING = "audit-signing"


SYSTEM_OWNER = "system"
STALE_REMEDY = (
    "copy the KEK ring from the node that rotated it to this node's keys.kek_file (or mount "
    "the group's shared ring there); the node re-reads it at its next request"
)


class KekRingStaleError(ApplianceError):
    """This node's KEK ring is older than the store's: fail closed, never guess.

    Not a ``KeyUnavailableError``: a key this node cannot unwrap is not an erased key, so
    searches fail instead of silently leaving items out."""

    code = "key_unavailable"

    def __init__(self, store_version: int, ring_versions: tuple[int, ...]) -> None:
        super().__init__(
            f"this node's KEK ring is older than the store's (version {store_version}; "
            f"this ring holds {', '.join(map(str, ring_versions))}): another node rotated the KEK",
            remedy=STALE_REMEDY,
        )
        self.store_version = store_version


def store_kek_version(connection: Connection) -> int | None:
    """The store's KEK version: the one its system pseudonym key is wrapped under."""
    row = key_rows.find_key(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
    return None if row is None else row.kek_version


def binding(kind: str, owner: str, version: int, kek_version: int) -> bytes:
    """Associated data of a wrapped key."""
    return f"appliance/dek/1|{kind}|{owner}|v{version}|kek{kek_version}".encode()


class KeyRing:
    """Creates, unwraps, caches and destroys data keys."""

    def __init__(self, kek: KekRing, clock: Clock) -> None:
        self._kek = kek
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._kek_stamp = _file_stamp(kek.location.path) if kek.location else None

    @property
    def kek(self) -> KekRing:
        """The KEK ring in use (re-read first if another process rewrote its file)."""
        location = self._kek.location
        if location is not None:
            stamp = _file_stamp(location.path)
            if stamp is not None and stamp != self._kek_stamp:
                self._kek = load_kek(location)
                self._kek_stamp = stamp
        return self._kek

    def replace_kek(self, kek: KekRing) -> None:
        """Use a new ring (after a rotation step); cached data keys stay valid."""
        self._kek = kek
        self._kek_stamp = _file_stamp(kek.location.path) if kek.location else None

    def unwrap_row(self, row: WrappedKeyRow) -> bytes:
        """Unwrap one stored key; ``KekRingStaleError`` if it is wrapped under a KEK version
        newer than this ring holds (another node rotated)."""
        ring = self.kek
        if row.kek_version not in ring.keys and row.kek_version > max(ring.keys):
            raise KekRingStaleError(row.kek_version, tuple(sorted(ring.keys)))
        aad = binding(row.kind, row.owner, row.version, row.kek_version)
        return ring.unwrap(row.kek_version, row.wrapped, aad)

    def check_current(self, connection: Connection) -> None:
        """Raise ``KekRingStaleError`` if the store is on a KEK version this ring lacks."""
        version = store_kek_version(connection)
        ring = self.kek
        if version is not None and version not in ring.keys and version > max(ring.keys):
            raise KekRingStaleError(version, tuple(sorted(ring.keys)))

    def ring_problem(self, connection: Connection) -> str | None:
        """Why this ring cannot serve the store (readiness), or None: older than the store's
        KEK version, or not opening the store's system key (another group's ring)."""
        row = key_rows.find_key(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
        if row is None:
            return None
        try:
            self.unwrap_row(row)
        except KekRingStaleError as exc:
            return f"{exc.message}; remedy: {exc.remedy}"
        except (IntegrityError, KeyUnavailableError):
            return (
                f"this node's KEK ring does not open the store's keys (KEK version "
                f"{row.kek_version}): a different ring; remedy: {STALE_REMEDY}"
            )
        return None

    def wrap_for(self, kind: str, owner: str, version: int, secret: bytes) -> tuple[int, bytes]:
        """Wrap ``secret`` for a row under the current wrapping KEK version."""
        ring = self.kek
        kek_version = ring.wrapping_version
        _, wrapped = ring.wrap(secret, binding(kind, owner, version, kek_version))
        return kek_version, wrapped

    def get(
        self, connection: Connection, kind: KeyKind, owner: str, *, create: bool = False
    ) -> tuple[int, bytes]:
        """The (version, key) of an owner; created inside ``connection`` when asked and absent.

        With ``create`` (the key is about to seal something) the cached key is checked
        against its row first: another process may have destroyed or replaced it."""
        cached = self._cache.get((kind, owner))
        verified: set[tuple[str, str]] = connection.info.setdefault(_VERIFIED, set())
        if cached is not None and (not create or (kind, owner) in verified):
            return cached  # checked already in this (write-locked) transaction
        row = key_rows.find_key(connection, kind, owner)
        verified.add((kind, owner))
        if row is not None and cached is not None and cached[0] == row.version:
            return cached
        if row is None:
            if not create:
                raise KeyUnavailableError(
                    f"no {kind} key for this owner (never created, or destroyed by erasure)"
                )
            self.forget(kind, owner)  # a stale cached key (destroyed elsewhere) never seals
            result = (1, self._insert_new(connection, kind, owner, 1))
        else:
            result = (row.version, self.unwrap_row(row))
        with self._lock:
            self._cache[(kind, owner)] = result
        return result

    def new_version(self, connection: Connection, kind: KeyKind, owner: str) -> tuple[int, bytes]:
        """Replace an owner's key by a fresh one of the next version; the older versions are
        destroyed in ``connection`` (an old snapshot sealed under them no longer opens)."""
        row = key_rows.find_key(connection, kind, owner)
        version = (row.version if row else 0) + 1
        key_rows.delete_keys(connection, kind, owner)
        secret = self._insert_new(connection, kind, owner, version)
        with self._lock:
            self._cache[(kind, owner)] = (version, secret)
        return version, secret

    def _insert_new(self, connection: Connection, kind: KeyKind, owner: str, version: int) -> bytes:
        self.check_current(connection)  # never wrap under a version other nodes retired
        secret = new_key() if kind != KeyKind.AUDIT_SIGNING else _new_signing_seed()
        kek_version, wrapped = self.wrap_for(kind, owner, version, secret)
        key_rows.insert_key(
            connection,
            kind=kind,
            owner=owner,
            version=version,
            kek_version=kek_version,
            wrapped=wrapped,
            now=self._clock.now(),
        )
        return secret

    def destroy(self, connection: Connection, kind: KeyKind, owner: str) -> int:
        """Destroy an owner's keys in ``connection``; the cache forgets them at once."""
        with self._lock:
            self._cache.pop((kind, owner), None)
        return key_rows.delete_keys(connection, kind, owner)

    def forget(self, kind: KeyKind, owner: str) -> None:
        """Drop a cached key (after a rolled-back transaction created it)."""
        with self._lock:
            self._cache.pop((kind, owner), None)

    def clear_cache(self) -> None:
        """Forget every unwrapped key."""
        with self._lock:
            self._cache.clear()


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _new_signing_seed() -> bytes:
    return new_key()  # an Ed25519 private key is 32 random bytes
