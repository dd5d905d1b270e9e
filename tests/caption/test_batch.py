"""Batch mode through the real SDK's files and batches calls against the fake server's Batch API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.caption.batch import BatchCaptioner
from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from shared.runtime.errors import BadInput, RetryLater
from tests.caption.conftest import GRID_H, GRID_W, caption_settings, make_grid
from tests.fake_openai import FakeOpenAI


def _batch_settings(fake: FakeOpenAI) -> CaptionSettings:
    return caption_settings(fake, caption_batch=True, caption_batch_wait_s=0.1, caption_batch_poll_s=0.05)


@pytest.fixture
async def batcher(fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[BatchCaptioner]:
    fake_openai.configure(batch_delay_s=0.2)
    b = BatchCaptioner(_batch_settings(fake_openai), ledger_path=tmp_path / "batches.json")
    yield b
    await b.aclose()


async def test_requests_are_gathered_into_one_batch_and_mapped_back(
    fake_openai: FakeOpenAI, batcher: BatchCaptioner
) -> None:
    grids = {hint: make_grid(shade=shade) for hint, shade in [("a red car", 10), ("a blue boat", 60),
                                                              ("a green tram", 120)]}
    jobs = [(hint, grids[hint]) for hint in grids] + [("a red car", grids["a red car"])]  # one redelivery
    outcomes = await asyncio.gather(*[batcher.caption(g, GRID_W, GRID_H, hint) for hint, g in jobs])

    assert len(fake_openai.batches_created) == 1
    lines = [r for r in fake_openai.requests if r.path == "batch:/v1/chat/completions"]
    assert len(lines) == 3  # the duplicate shares its line: paid once
    for (hint, grid), outcome in zip(jobs, outcomes, strict=True):
        assert outcome.status == "success" and outcome.captions is not None
        assert hint in outcome.captions.main_object_caption  # each result went back to its own clip
        sent = next(r for r in lines if f'depicts "{hint}"' in r.text)
        assert sent.response_format == "json_schema" and sent.images[0].data == grid

    live = Captioner(caption_settings(fake_openai))
    try:
        live_outcome = await live.caption(grids["a red car"], GRID_W, GRID_H, "a red car")
    finally:
        await live.aclose()
    assert outcomes[0].usage.input_tokens == live_outcome.usage.input_tokens
    assert outcomes[0].usage.cost_usd == pytest.approx(live_outcome.usage.cost_usd / 2)  # batch discount


async def test_refusal_and_repair_inside_a_batch(fake_openai: FakeOpenAI, batcher: BatchCaptioner) -> None:
    fake_openai.configure(script=["refusal", "empty_field"])
    refused, repaired = await asyncio.gather(
        batcher.caption(make_grid(shade=1), GRID_W, GRID_H, "first"),
        batcher.caption(make_grid(shade=200), GRID_W, GRID_H, "second"))
    assert refused.status == "refused" and "refused" in (refused.reason or "")
    assert repaired.status == "success"
    live = [r for r in fake_openai.requests if r.path == "/v1/chat/completions"]
    assert len(live) == 1 and "could not be used" in live[0].body["messages"][-1]["content"]


async def test_restart_reads_the_batch_already_paid_for(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.configure(batch_delay_s=0.5)
    ledger = tmp_path / "batches.json"
    first = BatchCaptioner(_batch_settings(fake_openai), ledger_path=ledger)
    task = asyncio.create_task(first.caption(make_grid(), GRID_W, GRID_H, "a heron"))
    async with asyncio.timeout(3):
        while not ledger.exists():  # submitted and recorded
            await asyncio.sleep(0.02)
    task.cancel()
    await first.aclose()  # the process dies with the batch in progress
    [(batch_id, _submitted_at)] = json.loads(ledger.read_text()).values()
    assert batch_id == fake_openai.batches_created[0]

    second = BatchCaptioner(_batch_settings(fake_openai), ledger_path=ledger)
    try:
        outcome = await second.caption(make_grid(), GRID_W, GRID_H, "a heron")  # the redelivered message
    finally:
        await second.aclose()
    assert outcome.status == "success" and "a heron" in (outcome.captions.dense_caption if outcome.captions else "")
    assert len(fake_openai.batches_created) == 1


async def test_expired_batch_hands_clips_back_and_a_retry_submits_again(
    fake_openai: FakeOpenAI, batcher: BatchCaptioner
) -> None:
    fake_openai.configure(batch_status="expired")
    with pytest.raises(RetryLater, match="ended expired"):
        await batcher.caption(make_grid(), GRID_W, GRID_H, "a train")
    fake_openai.configure(batch_status="completed")
    outcome = await batcher.caption(make_grid(), GRID_W, GRID_H, "a train")
    assert outcome.status == "success" and len(fake_openai.batches_created) == 2


async def test_rejected_line_dead_letters_with_reason(fake_openai: FakeOpenAI, batcher: BatchCaptioner) -> None:
    fake_openai.configure(script=["status:400"])
    with pytest.raises(BadInput, match=r"model request rejected \(400\): fake server error 400"):
        await batcher.caption(make_grid(), GRID_W, GRID_H, None)
