"""Batch mode through the real SDK's files and batches calls against the fake server's Batch API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.caption.batch import BatchCaptioner, captioner_for
from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from shared.runtime.errors import BadInput, RetryLater
from shared.store import RecordStore, batches
from tests.caption.conftest import GRID_H, GRID_W, caption_settings, make_grid
from tests.fake_openai import FakeOpenAI


def _batch_settings(fake: FakeOpenAI) -> CaptionSettings:
    return caption_settings(fake, caption_batch=True, caption_batch_wait_s=0.1, caption_batch_poll_s=0.05)


@pytest.fixture
async def batcher(fake_openai: FakeOpenAI) -> AsyncIterator[BatchCaptioner]:
    fake_openai.configure(batch_delay_s=0.2)
    b = BatchCaptioner(_batch_settings(fake_openai))
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


async def test_a_batch_submitted_by_one_replica_is_read_by_the_next_owner(
    fake_openai: FakeOpenAI, store_url: str
) -> None:
    """The ledger is in the shared store: the replica that gets the partition next (another pod, no shared
    disk) reads the batch already paid for instead of uploading the same request again."""
    fake_openai.configure(batch_delay_s=0.5)
    with RecordStore.open(store_url) as first_store, RecordStore.open(store_url) as second_store:
        first = captioner_for(_batch_settings(fake_openai), first_store.engine)
        assert isinstance(first, BatchCaptioner)
        task = asyncio.create_task(first.caption(make_grid(), GRID_W, GRID_H, "a heron"))
        async with asyncio.timeout(10):
            while not first.pending or next(iter(first.pending.values())).batch_id is None:
                await asyncio.sleep(0.02)  # submitted and recorded
        cid = next(iter(first.pending))
        task.cancel()
        await first.aclose()  # the replica dies with the batch in progress
        assert batches.batch_of(second_store.engine, cid) == fake_openai.batches_created[0]

        second = captioner_for(_batch_settings(fake_openai), second_store.engine)
        try:
            outcome = await second.caption(make_grid(), GRID_W, GRID_H, "a heron")  # the redelivered message
        finally:
            await second.aclose()
    assert outcome.status == "success" and "a heron" in (outcome.captions.dense_caption if outcome.captions else "")
    assert len(fake_openai.batches_created) == 1
    assert len([r for r in fake_openai.requests if r.path == "batch:/v1/chat/completions"]) == 1


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
