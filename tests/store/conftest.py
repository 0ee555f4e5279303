"""Fixtures of the store tests: both backends, SQLite and a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store.database import Database, create_store_engine
from tests.scaling.pg_cluster import PgCluster, pg_cluster, pg_url

__all__ = ["pg_cluster", "pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty store on each backend: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
    database = Database(create_store_engine(url))
    yield database
    database.dispose()
