"""Data keys: per-subject, per-index and system keys, wrapped by the KEK ring.

Each data key is wrapped with AES-256-GCM under the KEK, its associated data binding
the key's kind, owner (a subject pseudonym, or a collection/space), its own version
and the KEK version, so a wrapped key moved to another owner or row fails to unwrap.
Unwrapped keys are cached in memory only; destroying a key drops it from the cache.
"""

from __future__ import annotations

import threading
from enum import StrEnum

from sqlalchemy import Connection

from appliance.clock import Clock
from appliance.crypto.aead import new_key
from appliance.crypto.kek import KekRing
from appliance.errors import KeyUnavailableError
from appliance.store import keys as key_rows
from appliance.store.keys import WrappedKeyRow


class KeyKind(StrEnum):
    """What a data key protects."""

    SUBJECT = "subject"
    INDEX = "index"
    PSEUDONYM = "pseudonym"
    AUDIT_SIGNING = "audit-signing"


SYSTEM_OWNER = "system"


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

    @property
    def kek(self) -> KekRing:
        """The KEK ring in use."""
        return self._kek

    def replace_kek(self, kek: KekRing) -> None:
        """Use a new ring (after a rotation step); cached data keys stay valid."""
        self._kek = kek

    def unwrap_row(self, row: WrappedKeyRow) -> bytes:
        """Unwrap one stored key."""
        aad = binding(row.kind, row.owner, row.version, row.kek_version)
        return self._kek.unwrap(row.kek_version, row.wrapped, aad)

    def wrap_for(self, kind: str, owner: str, version: int, secret: bytes) -> tuple[int, bytes]:
        """Wrap ``secret`` for a row under the current wrapping KEK version."""
        kek_version = self._kek.wrapping_version
        _, wrapped = self._kek.wrap(secret, binding(kind, owner, version, kek_version))
        return kek_version, wrapped

    def get(
        self, connection: Connection, kind: KeyKind, owner: str, *, create: bool = False
    ) -> tuple[int, bytes]:
        """The (version, key) of an owner; created inside ``connection`` when asked and absent."""
        cached = self._cache.get((kind, owner))
        if cached is not None:
            return cached
        row = key_rows.find_key(connection, kind, owner)
        if row is None:
            if not create:
                raise KeyUnavailableError(
                    f"no {kind} key for this owner (never created, or destroyed by erasure)"
                )
            secret = new_key() if kind != KeyKind.AUDIT_SIGNING else _new_signing_seed()
            kek_version, wrapped = self.wrap_for(kind, owner, 1, secret)
            key_rows.insert_key(
                connection,
                kind=kind,
                owner=owner,
                version=1,
                kek_version=kek_version,
                wrapped=wrapped,
                now=self._clock.now(),
            )
            result = (1, secret)
        else:
            result = (row.version, self.unwrap_row(row))
        with self._lock:
            self._cache[(kind, owner)] = result
        return result

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


def _new_signing_seed() -> bytes:
    return new_key()  # an Ed25519 private key is 32 random bytes
