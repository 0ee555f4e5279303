"""Engine construction: SQLite in WAL mode with full synchronous commits, one writer; or
PostgreSQL, shared by several nodes.

Both give the same guarantee to the code above: one write transaction at a time. SQLite
takes its write lock up front (``BEGIN IMMEDIATE``); on PostgreSQL every write transaction
first takes one transaction-scoped advisory lock (``pg_advisory_xact_lock``), held until
commit or rollback, so writers on every node are serialised and the change log's sequence
numbers become visible in the order they were handed out. Reads never take it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from appliance.errors import ConfigError, StorageUnavailableError

_WRITE_FLAG = "appliance_write"
WRITE_LOCK_KEY = 0x61707077  # "appw": the advisory lock every PostgreSQL writer takes
TRANSACTION_SCRATCH = "appliance_verified_keys"
"""``connection.info`` entry valid for one ``read``/``write`` block only (see ``KeyRing.get``)."""

_STORAGE_FAULTS = (
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "unable to open database file",
    "no space left",
    "read-only file system",
)
"""SQLite messages that mean the disk, not the statement, failed."""


def storage_fault(exc: BaseException) -> StorageUnavailableError | None:
    """A ``StorageUnavailableError`` for a SQLite error the disk caused, else ``None``."""
    message = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        fault in message for fault in _STORAGE_FAULTS
    ):
        error = StorageUnavailableError(
            f"the store cannot be written or read ({message.splitlines()[0][:80]}); "
            "nothing was stored",
            remedy="free disk space or make the data directory writable, then retry",
        )
        error.__cause__ = exc
        return error
    return None


def create_store_engine(url: str, *, busy_timeout_ms: int = 10_000) -> Engine:
    """Create the engine; for SQLite set WAL, FULL sync, foreign keys and secure delete."""
    if not url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"database.url: unsupported database {url.split(':', 1)[0]!r}",
            remedy="use sqlite:///PATH (default) or a postgresql:// URL",
        )
    if not url.startswith("sqlite"):
        return _postgres_engine(url)
    engine = create_engine(
        url,
        poolclass=NullPool,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
            f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "handle_error")
    def _storage_errors(context: Any) -> None:
        # A full, read-only or failing disk is a 503 the operator can act on, not a 500.
        fault = storage_fault(context.original_exception)
        if fault is not None:
            raise fault

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front so two writers never deadlock on upgrade.
        immediate = connection.info.pop(_WRITE_FLAG, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str) -> Engine:
    """A pooled PostgreSQL engine; commits wait for the WAL flush (``synchronous_commit``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except ModuleNotFoundError as exc:  # the driver named in the URL is not installed
        raise ConfigError(
            f"database.url: the PostgreSQL driver is missing ({exc.name})",
            remedy="install the appliance with its dependencies (psycopg), or use "
            "postgresql+psycopg://",
        ) from exc

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        # durable on acknowledge, times in UTC whatever the server's default
        cursor.execute("SET synchronous_commit = on")
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.close()
        dbapi_connection.commit()

    @event.listens_for(engine, "handle_error")
    def _unreachable(context: Any) -> None:
        # a server that is down or unreachable is a 503 the operator can act on, not a 500
        original = context.original_exception
        state = str(getattr(original, "sqlstate", None) or "")
        # no SQLSTATE (connect failed), connection exceptions (08), server shutting down (57P)
        unreachable = not state or state.startswith(("08", "57P"))
        if context.is_disconnect or (type(original).__name__ == "OperationalError" and unreachable):
            error = StorageUnavailableError(
                "the database server cannot be reached "
                f"({str(original).splitlines()[0][:120]}); nothing was stored",
                remedy="check that PostgreSQL is running and reachable at database.url "
                "(or that its standby has been promoted), then retry",
            )
            error.__cause__ = original
            raise error

    return engine


class Database:
    """The engine plus a process-wide writer lock: one writer at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = threading.RLock()

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded default."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without error."""
        with self._writer, self.engine.connect() as connection:
            connection.info[_WRITE_FLAG] = True
            connection.info.pop(TRANSACTION_SCRATCH, None)  # pooled connections keep info
            with connection.begin():
                if not self.is_sqlite:  # one writer across every node, until commit
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY}
                    )
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (a transaction that is rolled back)."""
        with self.engine.connect() as connection:
            connection.info.pop(TRANSACTION_SCRATCH, None)
            yield connection

    def checkpoint_wal(self) -> None:
        """Fold the WAL into the database file and truncate it (after erasure)."""
        if self.is_sqlite:
            with self._writer, self.engine.connect() as connection:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def sqlite_journal_mode(database: Database) -> str:
    """The journal mode SQLite reports (``wal`` expected)."""
    with database.read() as connection:
        return str(connection.execute(text("PRAGMA journal_mode")).scalar())
