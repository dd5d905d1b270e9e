"""What caption replicas share through the store: a question claim that exactly one of several processes
gets, a lease that ends and is taken over, a budget tally no set of processes can reserve past, stored hints
where the first writer wins, and the batch ledger."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from shared.store import RecordStore, batches, claims, hints, spend
from tests.store.databases import database_url
from tests.store.factories import result


def _racer(url: str, what: str, owner: str, start: Any, out: Any) -> None:
    """One process of a race: connect, wait until every racer is ready, then take the claim or reserve."""
    with RecordStore.open(url) as store:
        start.wait(60)
        if what == "claim":
            out.put(int(claims.take(store.engine, "question", owner, lease_s=30) is not None))
        else:
            out.put(sum(spend.reserve(store.engine, 3, limit=20)[0] for _ in range(4)))


def _race(url: str, what: str, processes: int) -> list[int]:
    RecordStore.open(url).close()  # migrated before the race
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(url, what, f"pod-{i}", start, out)) for i in range(processes)]
    for proc in procs:
        proc.start()
    try:
        return [out.get(timeout=60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)


def test_one_of_several_processes_gets_a_question(store_url: str) -> None:
    assert sorted(_race(store_url, "claim", 3)) == [0, 0, 1]
    with RecordStore.open(store_url) as store:
        assert claims.holder(store.engine, "question") is not None


def test_a_lapsed_claim_is_taken_over_and_the_old_owner_cannot_renew_it(store: RecordStore) -> None:
    e = store.engine
    assert claims.take(e, "q", "old", lease_s=-1) == "new"  # lease already over: the owner died
    assert claims.take(e, "q", "new", lease_s=30) == "taken over"
    assert claims.take(e, "q", "third", lease_s=30) is None  # the new lease holds
    assert not claims.renew(e, "q", "old", lease_s=30)
    assert claims.renew(e, "q", "new", lease_s=30)
    claims.release(e, "q", "old")  # not the holder: nothing happens
    assert claims.holder(e, "q") is not None and claims.holder(e, "q")[0] == "new"  # type: ignore[index]
    claims.release(e, "q", "new")
    assert claims.holder(e, "q") is None


def test_processes_reserving_at_once_never_pass_the_limit(store_url: str) -> None:
    assert sum(_race(store_url, "reserve", 3)) == 6  # 6 x 3 = 18 of 20: a seventh would pass it
    with RecordStore.open(store_url) as store:
        assert spend.read(store.engine) == (0, 18)
        assert spend.settle(store.engine, 3, 1) == (1, 15)  # the unspent part goes back


def test_budget_tally_starts_from_what_existing_records_cost(store_url: str) -> None:
    with RecordStore.open(store_url) as store:
        store.record(result("a", "job-1"))
        cost = store.totals().cost_usd
        with store.engine.begin() as conn:  # as a database from before migration 3 was
            conn.exec_driver_sql("DROP TABLE budget_tallies")
            conn.exec_driver_sql("DROP TABLE model_claims")
            conn.exec_driver_sql("DROP TABLE model_hints")
            conn.exec_driver_sql("DROP TABLE batch_ledger")
            conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version = 3")
    with RecordStore.open(store_url) as store:
        assert cost > 0 and spend.read(store.engine) == (round(cost * spend.NANO), 0)


def test_first_stored_hint_wins(store: RecordStore) -> None:
    assert hints.keep(store.engine, "k", "A heron fishes.") == "A heron fishes."
    assert hints.keep(store.engine, "k", "A bird stands in water.") == "A heron fishes."
    assert hints.stored(store.engine, "k") == "A heron fishes." and hints.stored(store.engine, "other") is None


def test_batch_ledger_keeps_the_first_batch_and_forgets_a_failed_one(store: RecordStore) -> None:
    e = store.engine
    batches.put(e, ["a", "b"], "batch-1", keep_s=3600)
    batches.put(e, ["b", "c"], "batch-2", keep_s=3600)
    assert batches.submitted(e, ["a", "b", "c", "d"]) == {"a": "batch-1", "b": "batch-1", "c": "batch-2"}
    batches.drop(e, ["b", "c"], "batch-2")  # batch-2 expired: only its own entries go
    assert batches.submitted(e, ["a", "b", "c"]) == {"a": "batch-1", "b": "batch-1"}


@pytest.mark.parametrize("ci", ["true", "1", "YES"])
def test_unreachable_postgresql_fails_in_ci(ci: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr("tests.store.databases.ADMIN_URL", "postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL tests must run in CI"), \
            database_url("postgresql", tmp_path):
        pass


def test_unreachable_postgresql_is_skipped_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("tests.store.databases.ADMIN_URL", "postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(pytest.skip.Exception, match="not reachable"), database_url("postgresql", tmp_path):
        pass
