"""MIRA_BUDGET_USD: captioning pauses once the budget is spent, loses nothing, and resumes when raised."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.caption.budget import BudgetGate
from services.caption.captioner import Captioner
from services.caption.request import rate_tokens, worst_cost
from tests.caption.conftest import GRID_H, GRID_W, caption_settings
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
        await _until(lambda: budget.paused and len(fake_openai.requests) == 1)
        await asyncio.sleep(0.3)
        assert len(fake_openai.requests) == 1 and not any(t.done() for t in tasks[1:])
        assert budget.spent_usd > 0 and budget.spent_usd <= budget.limit_usd

        budget.raise_to(10.0)
        outcomes = await asyncio.gather(*tasks)
    finally:
        await cap.aclose()
    assert [o.status for o in outcomes] == ["success"] * 4  # nothing lost
    assert len(fake_openai.requests) == 4 and not budget.paused
    assert budget.spent_usd == sum(o.usage.cost_usd for o in outcomes)


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


async def test_spend_recorded_by_other_replicas_counts_against_the_cap() -> None:
    budget = BudgetGate(limit_usd=1.0, poll_s=0.05)
    await budget.reserve(0.4)  # fits: nothing spent yet
    budget.settle(0.4, 0.3)
    budget.observe_spent(0.2)  # lower than our own tally: ignored
    assert budget.spent_usd == 0.3
    budget.observe_spent(0.8)  # the records of every replica cost 0.8 so far
    waiting = asyncio.create_task(budget.reserve(0.4))
    await _until(lambda: budget.paused)
    assert not waiting.done()
    budget.raise_to(2.0)
    await asyncio.wait_for(waiting, 2)
