"""The composition root: builds adapters from settings and hands them to the services.

Only this module (and the CLI/app factory that call it) constructs adapters. ``init``
prepares a data directory; ``open_appliance`` opens an initialised one.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit import AuditTrail
from appliance.audit.storage import StoreTrail, store_trail
from appliance.clock import Clock, SystemClock
from appliance.crypto.kek import KekLocation, create_kek, load_kek, locate_kek
from appliance.crypto.keyring import SYSTEM_OWNER, KeyKind, KeyRing
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.domain.types import Actor
from appliance.errors import ConfigError
from appliance.observability import get_logger
from appliance.services.audit_health import AuditHealth
from appliance.services.consent import ConsentService
from appliance.services.erasure import ErasureService
from appliance.services.indexes import IndexManager
from appliance.services.items import CollectionService, ItemService
from appliance.services.keys import KeyService, rotates_here
from appliance.services.retention import RetentionService
from appliance.services.tokens import TokenService
from appliance.settings import Settings
from appliance.store import keys as key_rows
from appliance.store.database import Database, create_store_engine
from appliance.store.migrations import current_version, migrate, require_current

log = get_logger(__name__)
SUBDIRECTORIES = ("keys", "audit", "index", "models")
LOCK_FILE = "appliance.lock"
SNAPSHOT_TEMP_PATTERN = ".*.snap.*.tmp"  # appliance.index.snapshot's in-flight writes


@dataclass
class Appliance:
    """Everything a running appliance needs, wired."""

    settings: Settings
    clock: Clock
    database: Database
    keyring: KeyRing
    kek_location: KekLocation
    audit: AuditTrail
    indexes: IndexManager
    collections: CollectionService
    items: ItemService
    erasure: ErasureService
    keys: KeyService
    tokens: TokenService
    consent: ConsentService
    retention: RetentionService
    audit_health: AuditHealth
    pseudonymize: Pseudonymizer
    signing_public_key: bytes
    _lock_fd: int = field(default=-1, repr=False)
    _closed: bool = field(default=False, repr=False)

    def maintain(self) -> None:
        """The server's timer: apply erasures made by other processes, run due KEK shreds."""
        self.indexes.changes.catch_up(force=True)
        self.keys.shred_due(actor=Actor.operator())

    def derived_secret(self, purpose: bytes) -> bytes:
        """A stable secret for ``purpose``, derived from the KEK-protected pseudonym key."""
        with self.database.write() as connection:
            _, key = self.keyring.get(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
        return hmac.new(key, purpose, hashlib.sha256).digest()

    def consent_service(self, known_categories: Collection[str] | None) -> ConsentService:
        """The consent registry refusing categories outside ``known_categories`` (the
        loaded policy's), for grants made by the CLI."""
        return ConsentService(
            database=self.database,
            pseudonymize=self.pseudonymize,
            audit=self.audit,
            clock=self.clock,
            known_categories=known_categories,
        )

    def close(self) -> None:
        """Snapshot changed indexes, checkpoint the audit trail, release everything (once)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.indexes.snapshot_all()
        finally:
            self.audit.close()
            self.database.dispose()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


@dataclass(frozen=True)
class InitReport:
    """What ``init`` created (empty lists on a re-run)."""

    data_dir: Path
    created: tuple[str, ...]
    migrations: tuple[int, ...]
    kek: KekLocation | None = None


def init_appliance(
    settings: Settings, *, clock: Clock | None = None, environ: Mapping[str, str] | None = None
) -> InitReport:
    """Create the data dir (0700), KEK, schema, system keys and audit genesis; idempotent."""
    clock = clock or SystemClock()
    data_dir = settings.data_dir
    created: list[str] = []
    if not data_dir.exists():
        created.append("data-dir")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for name in SUBDIRECTORIES:
        (data_dir / name).mkdir(mode=0o700, exist_ok=True)
    location = _locate(settings, environ)
    if not location.path.exists():
        created.append("kek")
    kek = create_kek(location)
    database = _database(settings)
    try:
        applied = migrate(database, clock)
        keyring = KeyRing(kek, clock)
        with database.write() as connection:
            for kind in (KeyKind.PSEUDONYM, KeyKind.AUDIT_SIGNING):
                if key_rows.find_key(connection, kind, SYSTEM_OWNER) is None:
                    created.append(str(kind))
                keyring.get(connection, kind, SYSTEM_OWNER, create=True)
        signing = _signing_key(database, keyring)
        trail = AuditTrail(
            data_dir / "audit",
            signing,
            clock=clock,
            checkpoint_every=settings.audit.checkpoint_every,
            witness=audit_witness(settings),
            store=store_trail(database.engine),
        )
        try:
            genesis = trail.head is None
            trail.append(
                actor=Actor.operator(),
                action="audit.genesis" if genesis else "appliance.init",
                outcome="ok",
                details={"schema_version": current_version(database), "created": ",".join(created)},
            )
            trail.checkpoint()  # a fresh trail is signed (and witnessed) from its first entry
            if genesis:
                created.append("audit-genesis")
        finally:
            trail.close()
    finally:
        database.dispose()
    return InitReport(data_dir, tuple(created), tuple(applied), location)


def open_appliance(
    settings: Settings,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    exclusive: bool = False,
) -> Appliance:
    """Open an initialised data dir. ``exclusive`` (key rotation) refuses if another
    appliance process has it open."""
    clock = clock or SystemClock()
    data_dir = settings.data_dir
    if not (data_dir / "keys").is_dir():
        raise ConfigError(
            f"{data_dir} is not an initialised appliance data directory",
            remedy="run `appliance init` (or pass --data-dir / APPLIANCE_DATA_DIR)",
        )
    lock_fd = _lock(data_dir, exclusive)
    try:
        location = _locate(settings, environ)
        kek = load_kek(location)
        database = _database(settings)
        require_current(database)
        keyring = KeyRing(kek, clock)
        with database.write() as connection:
            _, pseudonym_key = keyring.get(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
        signing = _signing_key(database, keyring)
        audit = AuditTrail(
            data_dir / "audit",
            signing,
            clock=clock,
            checkpoint_every=settings.audit.checkpoint_every,
            witness=audit_witness(settings),
            store=store_trail(database.engine),
        )
    except BaseException:
        os.close(lock_fd)
        raise
    pseudonymize = Pseudonymizer(pseudonym_key)
    indexes = IndexManager(
        directory=data_dir / "index",
        settings=settings.index,
        database=database,
        keyring=keyring,
        audit=audit,
        clock=clock,
    )
    common = {"database": database, "keyring": keyring, "audit": audit, "clock": clock}
    keys = KeyService(
        database=database,
        keyring=keyring,
        location=location,
        audit=audit,
        clock=clock,
        shred_after_hours=settings.keys.shred_after_erasure_hours,
        lock_path=data_dir / "keys" / "rotation.lock",
        rotate_here=rotates_here(
            settings.keys.rotate_on_this_node, shared_store=not database.is_sqlite
        ),
    )
    return Appliance(
        settings=settings,
        clock=clock,
        database=database,
        keyring=keyring,
        kek_location=location,
        audit=audit,
        indexes=indexes,
        collections=CollectionService(database, audit, clock),
        items=ItemService(pseudonymize=pseudonymize, indexes=indexes, **common),
        erasure=ErasureService(pseudonymize=pseudonymize, indexes=indexes, keys=keys, **common),
        keys=keys,
        tokens=TokenService(database, audit, clock),
        consent=ConsentService(
            database=database, pseudonymize=pseudonymize, audit=audit, clock=clock
        ),
        retention=RetentionService(indexes=indexes, keys=keys, **common),
        audit_health=AuditHealth(data_dir, clock),
        pseudonymize=pseudonymize,
        signing_public_key=signing.public_key().public_bytes_raw(),
        _lock_fd=lock_fd,
    )


def audit_public_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The audit signing public key, derived from the KEK-protected private key."""
    location = _locate(settings, environ)
    keyring = KeyRing(load_kek(location), SystemClock())
    database = _database(settings)
    try:
        require_current(database)
        return _signing_key(database, keyring).public_key().public_bytes_raw()
    finally:
        database.dispose()


def record_audit_verification(settings: Settings, *, ok: bool, reason: str = "") -> None:
    """Record an ``audit verify`` outcome for readiness (``services.audit_health``); a data
    dir that cannot take the record is reported on the log, never hides the outcome."""
    try:
        AuditHealth(settings.data_dir, SystemClock()).record(ok, reason)
    except OSError as exc:
        log.error("audit.verification_unrecorded", error=exc.strerror or type(exc).__name__)


@contextmanager
def audit_trail_store(settings: Settings) -> Iterator[StoreTrail | None]:
    """Where a shared store (PostgreSQL) keeps the audit trail; None: the audit directory."""
    if settings.database_url.startswith("sqlite"):
        yield None
        return
    database = _database(settings)
    try:
        yield store_trail(database.engine)
    finally:
        database.dispose()


def audit_witness(settings: Settings) -> Path | None:
    """The audit witness (``audit.witness_path``), refused inside the data directory."""
    if not settings.audit.witness_path:
        return None
    witness = Path(settings.audit.witness_path)
    if witness.resolve().is_relative_to(settings.data_dir.resolve()):
        raise ConfigError(
            f"audit.witness_path {witness} is inside the data directory {settings.data_dir}",
            remedy="put the witness outside the data dir (another filesystem or mount, ideally "
            "an append-only file): a copy or a rollback of the data dir must not carry it",
        )
    return witness


def _locate(settings: Settings, environ: Mapping[str, str] | None) -> KekLocation:
    return locate_kek(settings.data_dir, environ, kek_file=settings.keys.kek_file)


def _database(settings: Settings) -> Database:
    return Database(
        create_store_engine(
            settings.database_url, busy_timeout_ms=settings.database.busy_timeout_ms
        )
    )


def _signing_key(database: Database, keyring: KeyRing) -> Ed25519PrivateKey:
    with database.write() as connection:
        _, seed = keyring.get(connection, KeyKind.AUDIT_SIGNING, SYSTEM_OWNER)
    return Ed25519PrivateKey.from_private_bytes(seed)


def remove_stale_snapshot_temps(data_dir: Path) -> int | None:
    """Delete snapshot temp files (``index/<collection>/.<space>.snap.XXXX.tmp``) left by a
    crashed write; how many. ``None`` when another appliance process has the data dir open
    (one of the files may be its write in flight), so nothing was touched."""
    index_dir = data_dir / "index"
    if not index_dir.is_dir():
        return 0
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        removed = 0
        for temp in index_dir.rglob(SNAPSHOT_TEMP_PATTERN):
            if temp.is_file() and not temp.is_symlink():
                temp.unlink(missing_ok=True)
                removed += 1
        return removed
    finally:
        os.close(fd)


def _lock(data_dir: Path, exclusive: bool) -> int:
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        if exclusive:
            raise ConfigError(
                "another appliance process has this data directory open",
                remedy="stop the service (systemctl stop appliance) and retry",
            ) from exc
        raise ConfigError(
            "a key rotation holds this data directory",
            remedy="wait for `appliance keys rotate` to finish, then retry",
        ) from exc
    return fd
