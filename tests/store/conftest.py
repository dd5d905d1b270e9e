"""Every store test runs twice: on a fresh SQLite file and on a fresh database in the local PostgreSQL.

PostgreSQL is found at MIRA_TEST_POSTGRES_URL (default: the development machine's trust-auth server);
each test gets a uniquely named database, dropped afterwards. If the server cannot be reached the
PostgreSQL half is skipped with the reason shown (`pytest -rs`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from shared.store import RecordStore

ADMIN_URL = os.environ.get("MIRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mira.db'}"
        return
    name = f"mira_test_{uuid.uuid4().hex[:12]}"
    try:
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {make_url(ADMIN_URL).render_as_string()}: {exc}")
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(store_url: str) -> Iterator[RecordStore]:
    with RecordStore.open(store_url) as opened:
        yield opened
