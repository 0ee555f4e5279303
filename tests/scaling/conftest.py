"""Fixtures of the scaling tests: a throwaway PostgreSQL cluster (see ``pg_cluster``)."""

from tests.scaling.pg_cluster import pg_cluster, pg_url

__all__ = ["pg_cluster", "pg_url"]
