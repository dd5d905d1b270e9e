"""Every store test runs twice: on a fresh SQLite file and on a fresh database in the local PostgreSQL
(skipped, with the reason shown by `pytest -rs`, when that server cannot be reached; failed instead where
CI is set). Other folders import `store_url` for their tests across replicas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store import RecordStore
from tests.store.databases import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[RecordStore]:
    with RecordStore.open(store_url) as opened:
        yield opened
