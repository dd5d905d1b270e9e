"""Every store test runs twice: on a fresh SQLite file and on a fresh database in the local PostgreSQL.

Each PostgreSQL test gets a uniquely named database (see databases.py), dropped afterwards. If the server
cannot be reached the PostgreSQL half is skipped with the reason shown (`pytest -rs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from shared.store import RecordStore
from tests.store.databases import shown_admin_url, temporary_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mira.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_database())
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL not reachable at {shown_admin_url()}: {exc}")
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[RecordStore]:
    with RecordStore.open(store_url) as opened:
        yield opened
