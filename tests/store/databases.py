"""Throwaway databases for tests and the export benchmark: a SQLite file, or a uniquely named database on
the local PostgreSQL server, found at MIRA_TEST_POSTGRES_URL (default: the development machine's
trust-auth server) and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("MIRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


@contextmanager
def temporary_database() -> Iterator[str]:
    """A new, uniquely named database, dropped on exit; psycopg.OperationalError if the server is down."""
    name = f"mira_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """For a fixture parametrized over ("sqlite", "postgresql"): a fresh database of that backend. The
    PostgreSQL case is skipped, with the reason shown (`pytest -rs`), when the server cannot be reached."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mira.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_database())
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL not reachable at {shown_admin_url()}: {exc}")
        yield url


def shown_admin_url() -> str:
    return make_url(ADMIN_URL).render_as_string()  # password hidden
