"""Throwaway PostgreSQL databases on the local server, for the store tests and the export benchmark.

The server is found at MIRA_TEST_POSTGRES_URL (default: the development machine's trust-auth server).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
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


def shown_admin_url() -> str:
    return make_url(ADMIN_URL).render_as_string()  # password hidden
