"""A PostgreSQL server of the test's own (tests/postgres_server.py), which the test may stop and start again
on the same port and data: the session's shared server must never be stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.postgres_server import PostgresServer, PostgresUnavailable
from tests.store.databases import unusable


@contextmanager
def own_postgres() -> Iterator[PostgresServer]:
    """Started; `stop()` ends it as a failover or restart does (sessions end with an admin shutdown, new ones
    are refused), `launch()` brings it back."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        unusable(f"no PostgreSQL server of the test's own could be started ({exc})")
    try:
        yield server
    finally:
        server.remove()
