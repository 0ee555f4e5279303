"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` as an unprivileged user.

The server listens on a unix socket in a temporary directory only (no TCP port), runs as
the ``postgres`` system user when the tests run as root (``initdb`` refuses root), and is
stopped and deleted afterwards. Without the binaries the caller skips, or fails under
``CI=true`` (``.ci/run`` installs the Debian ``postgresql`` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BINARIES = ("initdb", "pg_ctl", "postgres")


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (PATH first, then Debian's)."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if all((directory / name).is_file() for name in BINARIES):
            return directory
    return None


def require_postgres() -> Path:
    """The binaries' directory; skip without them, but fail under ``CI=true``."""
    directory = find_bin_dir()
    if directory is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are absent: install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return directory


@dataclass(frozen=True)
class PgCluster:
    """A running throwaway cluster reachable over its unix socket."""

    socket_dir: Path
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` (psycopg, unix socket, trust auth)."""
        return (
            f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as(user: str | None, argv: list[str]) -> None:
    command = ["runuser", "-u", user, "--", *argv] if user else argv
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")


@contextmanager
def throwaway_cluster(bin_dir: Path) -> Iterator[PgCluster]:
    """initdb, start on a unix socket, yield, stop and delete."""
    as_user = "postgres" if os.geteuid() == 0 else None
    if as_user is not None:
        try:
            account = pwd.getpwnam(as_user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", as_user], check=True)
            account = pwd.getpwnam(as_user)
    root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if as_user is not None:
        for path in (root, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = 5432 + (os.getpid() % 1000) + 1000  # only names the socket file: no TCP listener
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{sockets}' -p {port} "
        "-c fsync=on -c max_connections=100 -c shared_buffers=32MB"
    )
    try:
        _run_as(
            as_user,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )
        _run_as(
            as_user,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        try:
            yield PgCluster(sockets, port, "postgres")
        finally:
            _run_as(
                as_user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the test session (skipped without binaries)."""
    bin_dir = require_postgres()
    with throwaway_cluster(bin_dir) as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, empty database on the session's cluster."""
    return pg_cluster.create_database()
