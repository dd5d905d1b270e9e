"""Schema migrations: applied once, safe to re-run and to race, and a newer database is refused."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from shared.store import RecordStore, StoreError
from shared.store.engine import parse_url
from shared.store.migrations import MIGRATIONS
from shared.store.schema import schema_migrations
from tests.store.factories import result


def _applied(store: RecordStore) -> list[int]:
    with store.engine.connect() as conn:
        return list(
            conn.scalars(sa.select(schema_migrations.c.version).order_by(schema_migrations.c.version))
        )


def test_reopening_applies_nothing_twice_and_keeps_records(store_url: str) -> None:
    with RecordStore.open(store_url) as store:
        store.record(result("a", "job-1"))
        assert _applied(store) == [m.number for m in MIGRATIONS]
    with RecordStore.open(store_url) as store:
        assert _applied(store) == [m.number for m in MIGRATIONS]
        assert [r.job_id for r in store.iter_records("all")] == ["job-1"]


def _open(url: str) -> None:
    RecordStore.open(url).close()


def test_processes_starting_together_migrate_once(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.map(_open, [store_url] * 3)
    with RecordStore.open(store_url) as store:
        assert _applied(store) == [m.number for m in MIGRATIONS]


def test_database_from_a_newer_mira_is_refused(store_url: str) -> None:
    with RecordStore.open(store_url) as store, store.engine.begin() as conn:
        conn.execute(sa.insert(schema_migrations).values(version=99, name="future", applied_at=sa.func.now()))
    with pytest.raises(StoreError, match=f"at migration 99 but this Mira knows only up to {MIGRATIONS[-1].number}"):
        RecordStore.open(store_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root:hunter2@db/mira", "must be sqlite:///PATH or postgresql://"),
        ("sqlite://", "needs a file"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_urls_are_refused_without_showing_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_url(url)
    assert "hunter2" not in str(caught.value)


def test_postgresql_urls_use_psycopg_3() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
