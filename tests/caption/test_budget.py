"""MIRA_BUDGET_USD: captioning pauses once the budget is spent, loses nothing, and resumes when raised; caption
replicas sharing a record store stay under one budget together."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.caption import request
from services.caption.batch import captioner_for
from services.caption.budget import BudgetGate
from services.caption.captioner import Captioner
from services.caption.request import rate_tokens, worst_cost
from shared.store import RecordStore, spend
from shared.store import engine as engines
from tests.caption.conftest import GRID_H, GRID_W, caption_settings, make_grid
from tests.fake_openai import FakeOpenAI


async def _until(predicate: object, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def _one_call_worst(fake: FakeOpenAI) -> float:
    settings = caption_settings(fake)
    msgs = [{"role": "user", "content": [{"type": "text", "text": "x" * 4000}]}]
    return worst_cost("gpt-4o", rate_tokens("gpt-4o", msgs, GRID_W, GRID_H, settings), settings)


async def test_spent_budget_pauses_and_raising_it_resumes_without_loss(fake_openai: FakeOpenAI, grid: bytes) -> None:
    settings = caption_settings(fake_openai)
    # Room for one call's worst case, not two: the second waits until the first is settled, then stays
    # paused because the real cost of the first leaves no room for another worst case.
    budget = BudgetGate(limit_usd=_one_call_worst(fake_openai) * 1.2, poll_s=0.05)
    cap = Captioner(settings, budget=budget)
    try:
        tasks = [asyncio.create_task(cap.caption(grid, GRID_W, GRID_H, f"clip {i}")) for i in range(4)]
        await _until(lambda: budget.paused and tasks[0].done())
        refused = budget.refusals
        await _until(lambda: budget.refusals >= refused + 3)  # looked again three times: still no room
        assert len(fake_openai.requests) == 1 and not any(t.done() for t in tasks[1:])
        assert budget.spent_usd > 0 and budget.spent_usd <= budget.limit_usd

        budget.raise_to(10.0)
        outcomes = await asyncio.gather(*tasks)
    finally:
        await cap.aclose()
    assert [o.status for o in outcomes] == ["success"] * 4  # nothing lost
    assert len(fake_openai.requests) == 4 and not budget.paused
    assert budget.spent_usd == pytest.approx(sum(o.usage.cost_usd for o in outcomes))


async def test_budget_file_raises_the_budget_of_a_running_stage(
    fake_openai: FakeOpenAI, grid: bytes, tmp_path: Path
) -> None:
    budget_file = tmp_path / "budget_usd"
    settings = caption_settings(fake_openai, budget_usd=0.0, budget_file=budget_file, budget_poll_s=0.05)
    cap = Captioner(settings, budget=BudgetGate.from_settings(settings, spent_usd=0.0))
    try:
        task = asyncio.create_task(cap.caption(grid, GRID_W, GRID_H, None))
        await _until(lambda: cap.budget.paused)
        assert fake_openai.requests == []
        budget_file.write_text("5.00\n")
        outcome = await task
    finally:
        await cap.aclose()
    assert outcome.status == "success" and cap.budget.limit_usd == 5.0


async def test_spend_before_start_counts(fake_openai: FakeOpenAI, grid: bytes) -> None:
    """A restarted stage starts from what the store says was spent, so the budget holds across restarts."""
    settings = caption_settings(fake_openai, budget_usd=2.0)
    cap = Captioner(settings, budget=BudgetGate.from_settings(settings, spent_usd=2.0))
    try:
        task = asyncio.create_task(cap.caption(grid, GRID_W, GRID_H, None))
        await _until(lambda: cap.budget.paused)
        assert fake_openai.requests == [] and not task.done()
        task.cancel()
    finally:
        await cap.aclose()


async def test_replicas_sharing_a_store_stay_under_one_budget(fake_openai: FakeOpenAI, store_url: str) -> None:
    """Three replicas, each with its own connections, nine clips: together they spend no more than the budget
    (each one's own cap would let all three spend it)."""
    msgs = request.messages(make_grid(), "clip 0-0", "high", structured=True)
    worst = worst_cost("gpt-4o", rate_tokens("gpt-4o", msgs, GRID_W, GRID_H, caption_settings(fake_openai)),
                       caption_settings(fake_openai))
    limit = 2.5 * worst
    settings = caption_settings(fake_openai, budget_usd=limit, budget_poll_s=0.05)
    stores = [RecordStore.open(store_url) for _ in range(3)]
    caps = [captioner_for(settings, store.engine) for store in stores]
    gates = [cap.budget for cap in caps if isinstance(cap, Captioner)]
    tasks = {cap: [asyncio.create_task(cap.caption(make_grid(shade=30 * i + j), GRID_W, GRID_H, f"clip {i}-{j}"))
                   for j in range(3)] for i, cap in enumerate(caps)}

    def waiting() -> list[BudgetGate]:
        return [gate for cap, gate in zip(caps, gates, strict=True) if not all(t.done() for t in tasks[cap])]

    try:
        reserved = -1
        while reserved != 0:  # a call that fit after all (a settled one cost less than its worst case): again
            # Settled: nothing in flight anywhere, and every replica with clips left is held by the budget...
            await _until(lambda: spend.read(stores[0].engine)[1] == 0 and all(g.paused for g in waiting()), 30)
            refused = [g.refusals for g in waiting()]
            # ...and stays held after looking again at the shared tally (its other clips look too, so
            # nothing may be in flight when the tally is read).
            await _until(lambda seen=refused: all(g.refusals >= r + 2
                                                  for g, r in zip(waiting(), seen, strict=False)), 30)
            spent, reserved = spend.read(stores[0].engine)
        done = [t.result() for ts in tasks.values() for t in ts if t.done()]
    finally:
        for t in (t for ts in tasks.values() for t in ts):
            t.cancel()
        for cap in caps:
            await cap.aclose()
        for store in stores:
            store.close()
    paid = sum(o.usage.cost_usd for o in done)
    assert len(fake_openai.chat_requests) == len(done) < 9
    assert reserved == 0 and spent / spend.NANO == pytest.approx(paid, abs=1e-6)
    assert paid <= limit  # all replicas together: under the cap
    assert paid + worst > limit  # and not stopped early: one more worst case would not have fit


async def test_calls_that_end_while_the_tally_is_busy_settle_together_and_the_tally_keeps_every_cost(
    fake_openai: FakeOpenAI, store_url: str
) -> None:
    """Every paid call's cost reaches the shared tally, but calls answered while its one row is busy (another
    replica settling) wait together and settle in one trip, rather than queueing one transaction each."""
    settings = caption_settings(fake_openai)
    settles: list[str] = []
    busy, free = threading.Event(), threading.Event()
    with RecordStore.open(store_url) as store:

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.lstrip().upper().startswith("UPDATE BUDGET_TALLIES"):
                settles.append(statement)

        def other_replica_settling() -> None:
            with engines.write_transaction(store.engine, lock_key=f"budget:{spend.TALLY}"):
                busy.set()
                free.wait(30)

        holder = threading.Thread(target=other_replica_settling)
        holder.start()
        busy.wait(30)
        sa.event.listen(store.engine, "before_cursor_execute", count)
        cap = captioner_for(settings, store.engine)
        try:
            calls = asyncio.gather(*(cap.caption(make_grid(shade=20 * i), GRID_W, GRID_H, f"clip {i}")
                                     for i in range(12)))
            await _until(lambda: len(fake_openai.chat_requests) == 12, 30)
            await asyncio.sleep(0.5)  # every answer read; the first settlement waits for the row, the rest queue
            free.set()
            outcomes = await calls
        finally:
            free.set()
            holder.join()
            await cap.aclose()
        spent, reserved = spend.read(store.engine)
    paid = sum(o.usage.cost_usd for o in outcomes)
    assert [o.status for o in outcomes] == ["success"] * 12
    assert reserved == 0 and spent / spend.NANO == pytest.approx(paid, abs=1e-6)
    assert len(settles) == 2  # the one that found the row busy, then the eleven that came meanwhile
