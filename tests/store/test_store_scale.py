"""Migration 8 (indexes for stores of tens of millions of versions, tests/bench/store.py), on SQLite and
PostgreSQL: a store made before it gets the indexes and keeps its records, and the queries they are for use
them: `mira status`'s sums (and on PostgreSQL its newest-version counts) read the covering index alone, a verdict selection
probes the verdict index. On PostgreSQL a table this small is cheaper to scan, so the plans are read with
sequential scans priced out (what the planner picks on a big table; the benchmark shows it at 10M)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from cli import status
from shared.settings import Settings
from shared.store import RecordStore
from shared.store import engine as engines
from shared.store.migrations import SCALE_INDEXES
from shared.store.versions import record_all
from tests.store.factories import migrate_to, result


def _store_at_migration_7(url: str) -> None:
    """A database as the Mira before this one left it: migrations 1-7, three versions of two clips."""
    engine = engines.create(url)
    with engines.write_transaction(engine, lock_key="schema_migrations") as conn:
        migrate_to(conn, 7)
    record_all(engine, [result("a", "job-a1"), result("a", "job-a2", status="failed"), result("b", "job-b1")])
    engine.dispose()


def _indexes(store: RecordStore) -> set[str]:
    return {i["name"] for i in sa.inspect(store.engine).get_indexes("caption_records")}


def test_a_store_from_before_migration_8_gets_its_indexes_and_keeps_its_records(store_url: str) -> None:
    _store_at_migration_7(store_url)
    with RecordStore.open(store_url) as store:
        assert set(SCALE_INDEXES) <= _indexes(store)
        assert [(r.clip_id, r.version, r.status) for r in store.iter_records("all")] == [
            ("a", 1, "success"), ("a", 2, "failed"), ("b", 1, "success")]
        totals = store.totals()
        assert (totals.versions, totals.latest_by_status) == (3, {"failed": 1, "success": 1})
        assert [r.clip_id for r in store.select(status_in=["failed"])] == ["a"]
    shown = status._records(Settings(database_url=store_url))  # SQLite: read without the store, same answer
    assert (shown["versions"], shown["clips"], shown["latest_by_status"]) == (3, 2, {"failed": 1, "success": 1})


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)


def _plans(store: RecordStore, statements: list[tuple[str, Any]]) -> list[str]:
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        if postgres:  # what autovacuum does to a big table: index-only scans need its visibility map
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM caption_records")
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_bitmapscan = off")
        explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        return [" ".join(str(row) for row in conn.exec_driver_sql(explain + sql, params))
                for sql, params in statements]


def test_status_reads_the_covering_index_and_a_verdict_selection_its_index(store: RecordStore) -> None:
    store.record_all([result(f"c{i}", f"job-{i}") for i in range(20)])
    with _statements(store.engine) as totals_sql:
        store.totals()
    with _statements(store.engine) as verdict_sql:
        list(store.select(verdict="rejected"))
    newest, sums = _plans(store, totals_sql)
    if store.engine.dialect.name == "sqlite":
        assert "COVERING INDEX ix_caption_records_newest" in sums  # no table row read for the sums
    else:
        assert "Index Only Scan using ix_caption_records_newest" in sums
        assert "Index Only Scan using ix_caption_records_newest" in newest
    [verdict] = _plans(store, verdict_sql)
    assert "ix_caption_records_verdict" in verdict
