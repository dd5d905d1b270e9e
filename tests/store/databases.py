"""Throwaway databases for tests, benchmarks and `make chaos`: a SQLite file, or a uniquely named database,
dropped afterwards, on the PostgreSQL server at MIRA_TEST_POSTGRES_URL or, when that is unset, on a server
of this process's own (tests/postgres_server.py), started on first use and stopped when the process ends.

Where CI is set (CI=true, 1 or yes, as CI services set it) a PostgreSQL that cannot be reached or started
fails the test instead of skipping it: a green run there must have run every test on both backends.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.postgres_server import PostgresServer, PostgresUnavailable

ADMIN_URL: str | None = os.environ.get("MIRA_TEST_POSTGRES_URL") or None  # None: a server of our own
_own_server: PostgresServer | None = None
_used = False


def admin_url() -> str:
    """The server's admin URL; starts this process's own server the first time when none is configured."""
    global _own_server, _used
    _used = True
    if ADMIN_URL is not None:
        return ADMIN_URL
    if _own_server is None:
        server = PostgresServer()
        try:
            server.start()
        except BaseException:
            server.remove()
            raise
        _own_server = server
        atexit.register(stop_own_server)
    return _own_server.url


def own_server_version() -> str | None:
    """What the session's PostgreSQL is, when one was used, for the run's summary."""
    if _own_server is None:
        return f"the server at {shown_admin_url()} (MIRA_TEST_POSTGRES_URL)" if ADMIN_URL and _used else None
    with _admin() as admin:
        version = admin.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {version[0] if version else '?'}, started by the tests on port {_own_server.port}"


def stop_own_server() -> None:
    global _own_server
    if _own_server is not None:
        _own_server.remove()
        _own_server = None


def _admin() -> psycopg.Connection:
    return psycopg.connect(admin_url(), autocommit=True, connect_timeout=3)


@contextmanager
def temporary_database() -> Iterator[str]:
    """A new, uniquely named database, dropped on exit; psycopg.OperationalError if the server is down."""
    name = f"mira_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """For a fixture parametrized over ("sqlite", "postgresql"): a fresh database of that backend. The
    PostgreSQL case is skipped, with the reason shown (`pytest -rs`), when the server cannot be reached,
    and fails instead in CI."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mira.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_database())
        except PostgresUnavailable as exc:
            unusable(f"no PostgreSQL server could be started ({exc})")
        except psycopg.OperationalError as exc:
            unusable(f"PostgreSQL not reachable at {shown_admin_url()}: {exc}")
        yield url


def unusable(reason: str) -> NoReturn:
    """Skip the test that needs PostgreSQL, with the reason shown (`pytest -rs`); fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: PostgreSQL tests must run in CI; install Debian's "
                    "postgresql package or point MIRA_TEST_POSTGRES_URL at a server)", pytrace=False)
    pytest.skip(reason)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def shown_admin_url() -> str:
    return make_url(admin_url()).render_as_string()  # password hidden
