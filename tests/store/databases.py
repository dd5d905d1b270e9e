"""Throwaway databases for tests and the export benchmark: a SQLite file, or a uniquely named database on
the local PostgreSQL server, found at MIRA_TEST_POSTGRES_URL (default: the development machine's
trust-auth server) and dropped afterwards.

Where CI is set (CI=true, 1 or yes, as CI services set it) an unreachable PostgreSQL fails the test instead
of skipping it: a green run there must have run every test on both backends.
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
    PostgreSQL case is skipped, with the reason shown (`pytest -rs`), when the server cannot be reached,
    and fails instead in CI."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mira.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_database())
        except psycopg.OperationalError as exc:
            reason = f"PostgreSQL not reachable at {shown_admin_url()}: {exc}"
            if in_ci():
                pytest.fail(f"{reason} (CI={os.environ['CI']}: PostgreSQL tests must run in CI; start the server "
                            "or point MIRA_TEST_POSTGRES_URL at one)", pytrace=False)
            pytest.skip(reason)
        yield url


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def shown_admin_url() -> str:
    return make_url(ADMIN_URL).render_as_string()  # password hidden
