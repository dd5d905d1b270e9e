"""One model call per question: deliveries of one question in one process share a call, replicas (separate
processes, each with its own store connections) share it through a leased claim, a dead owner's claim is
taken over, and an answer that turns up while a call waits for its turn is used instead of paid for."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import prompt
from services.caption.captioner import BeforeSend, Captioner, CaptionOutcome
from services.caption.handler import CaptionStage
from services.caption.onecall import Question
from shared.messages import Captions, HintReady
from shared.store import RecordStore, claims
from tests.caption.stages import caption_stage, hinted, stage_settings
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def caption_env(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # The answers these tests log by hand are a few letters long: no quality repair of them (test_repair.py).
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test", "MIRA_CAPTION_CLAIM_POLL_S": "0.05",
           "MIRA_CAPTION_REPAIR": "off",
           "MIRA_CAPTION_BACKOFF_BASE_S": "0.02", "MIRA_CAPTION_BACKOFF_MAX_S": "0.2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _question(message: HintReady) -> Question:
    return Question(message.grid.sha256, message.hint.text, prompt.PROMPT_VERSION, "gpt-4o")


def _replica(env: dict[str, str], home: str, store_url: str, message: str, ready: Any, go: Any, out: Any) -> None:
    """A caption replica in its own process: start, say so, wait for the signal, handle one message."""
    os.environ.update(env)

    async def main() -> None:
        async with caption_stage(stage_settings(Path(home), store_url)) as stage:
            ready.set()
            await asyncio.to_thread(go.wait, 60)
            result = await stage.handle(HintReady.model_validate_json(message))
            out.put((result.status, result.usage.cost_usd, result.captions.model_dump() if result.captions else None))

    asyncio.run(main())


def _answer(style: str) -> Captions:
    return Captions(dense_caption="d", main_object_caption="m", background_caption="b", camera_caption="c",
                    style_caption=style)


async def _model_asked(fake: FakeOpenAI) -> None:
    async with asyncio.timeout(20):
        while not fake.requests:
            await asyncio.sleep(0.02)


async def _revoked_once_the_model_answers(stage: CaptionStage, message: HintReady,
                                          fake: FakeOpenAI) -> asyncio.Task[Any]:
    """Handle `message`, and cancel the delivery, as a rebalance does, once its request is with the model."""
    delivery = asyncio.create_task(stage.handle(message))
    await _model_asked(fake)
    delivery.cancel()
    return delivery


async def test_replicas_in_separate_processes_pay_once_for_one_question(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(latency_s=0.5)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    mp = multiprocessing.get_context("spawn")
    go, out = mp.Event(), mp.Queue()
    readies = [mp.Event() for _ in range(2)]
    procs = [mp.Process(target=_replica, args=(caption_env, str(settings.home), store_url,
                                                message.model_dump_json(), ready, go, out)) for ready in readies]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            assert await asyncio.to_thread(ready.wait, 60), "a replica did not start"
        go.set()  # both ask the same question at once
        results = [await asyncio.to_thread(out.get, True, 60) for _ in procs]
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()
    assert len(fake_openai.chat_requests) == 1  # one paid call
    assert [status for status, _, _ in results] == ["success", "success"]
    assert results[0][2] == results[1][2]  # the same captions for both deliveries
    assert sorted(cost > 0 for _, cost, _ in results) == [False, True]  # its cost is recorded once


async def test_deliveries_in_one_process_share_one_call(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(latency_s=0.3)
    settings = stage_settings(tmp_path / "home", store_url)
    first, refetched = await hinted(settings, "job-1"), await hinted(settings, "job-1")
    other_job = await hinted(settings, "job-2")  # another job over the same grid and hint
    async with caption_stage(settings) as stage:
        results = await asyncio.gather(*(stage.handle(m) for m in (first, refetched, other_job)))
    assert len(fake_openai.chat_requests) == 1
    assert [r.status for r in results] == ["success"] * 3
    assert len({r.captions for r in results}) == 1
    assert [r.usage.cost_usd > 0 for r in results].count(True) == 1


async def test_claim_of_a_dead_replica_is_taken_over_once_its_lease_ends(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    key = _question(message).key
    with RecordStore.open(store_url) as store:  # a replica claimed the question, then was SIGKILLed
        assert claims.take(store.engine, key, "dead-pod:1:x", lease_s=1.0)
        (owner, lease_left) = claims.holder(store.engine, key) or ("", 0.0)
        lease_end = time.time() + lease_left
        async with caption_stage(settings) as stage:
            result = await stage.handle(message)
        assert claims.holder(store.engine, key) is None  # released after answering
    assert owner == "dead-pod:1:x" and lease_left > 0
    assert result.status == "success" and result.captions is not None and result.usage.cost_usd > 0
    (call,) = fake_openai.chat_requests
    assert call.at >= lease_end - 0.05  # asked only once the dead owner's lease had run out


async def test_answer_logged_while_waiting_for_budget_is_used_not_paid_for(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    budget_file = tmp_path / "budget_usd"
    budget_file.write_text("0")
    monkeypatch.setenv("MIRA_BUDGET_FILE", str(budget_file))
    monkeypatch.setenv("MIRA_BUDGET_POLL_S", "0.05")
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    answer = _answer("s")
    async with caption_stage(settings) as stage:
        task = asyncio.create_task(stage.handle(message))
        assert isinstance(stage.captioner, Captioner)
        async with asyncio.timeout(20):
            while not stage.captioner.budget.paused:  # claimed, and waiting for budget
                await asyncio.sleep(0.02)
        # The question's claim is held by this replica, so no other could have answered it but one that took
        # over a lapsed lease; whoever it was, the answer is in the log now.
        q = _question(message)
        await asyncio.to_thread(stage.store.remember_answer, q.grid_sha256, q.hint, q.prompt_version, q.model,
                                answer)
        budget_file.write_text("5")
        result = await asyncio.wait_for(task, 20)
    assert fake_openai.requests == []
    assert result.status == "success" and result.captions == answer and result.usage.cost_usd == 0


async def test_answer_logged_while_a_429_holds_the_request_back_is_used_not_paid_for(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(script=["status:429"], retry_after_s=0.3)  # a pause shorter than LOOK_AGAIN_AFTER_S
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    q = _question(message)
    answer = _answer("logged during the 429 pause")
    async with caption_stage(settings) as stage:
        task = asyncio.create_task(stage.handle(message))
        await _model_asked(fake_openai)  # the first try was answered 429: the retry waits 0.3 s
        await asyncio.to_thread(stage.store.remember_answer, q.grid_sha256, q.hint, q.prompt_version, q.model,
                                answer)
        result = await asyncio.wait_for(task, 20)
    assert [r.status for r in fake_openai.requests] == [429]  # no retry went out: the answer was there
    assert result.status == "success" and result.captions == answer and result.usage.cost_usd == 0


async def test_an_answer_logged_by_the_owner_whose_claim_was_taken_over_is_used_even_without_a_wait(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    """The owner's lease lapsed (a stalled process, not a dead one) and this replica took the claim over; the
    old owner then logs its answer just before this replica's request leaves. The request is not sent."""
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    q = _question(message)
    late = _answer("late")
    async with caption_stage(settings) as stage:
        assert claims.take(stage.store.engine, q.key, "stalled-pod:1:x", lease_s=-1) == "new"  # lapsed at once
        assert isinstance(stage.captioner, Captioner)
        live = stage.captioner

        async def call(before_send: BeforeSend) -> CaptionOutcome:
            await asyncio.to_thread(stage.store.remember_answer, q.grid_sha256, q.hint, q.prompt_version, q.model,
                                    late, "stalled-pod:1:x")  # the stalled owner's answer lands now
            jpeg = await stage.blobs.get(message.grid.uri)
            return await live.caption(jpeg, message.grid.width, message.grid.height, q.hint, q.model, before_send)

        outcome, paid = await stage.one_call.ask(q, call)
        assert claims.holder(stage.store.engine, q.key) is None  # released
    assert fake_openai.requests == []
    assert outcome.captions == late and not paid and outcome.usage.cost_usd == 0


async def test_a_fresh_question_sent_at_once_looks_for_its_answer_twice_not_three_times(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    """Before and after taking a claim nobody held; no third look before sending, since nothing waited."""
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    looks: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "model_answers.captions" in statement:
            looks.append(statement)

    async with caption_stage(settings) as stage:
        sa.event.listen(stage.store.engine, "before_cursor_execute", count)
        result = await stage.handle(message)
    assert result.status == "success" and result.usage.cost_usd > 0
    assert len(fake_openai.chat_requests) == 1
    assert len(looks) == 2


async def test_a_call_outlives_its_revoked_delivery_and_the_refetch_gets_it(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(latency_s=0.5)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as stage:
        first = await _revoked_once_the_model_answers(stage, message, fake_openai)
        result = await stage.handle(message)  # it came back, and the message was fetched again
    assert first.cancelled()
    assert len(fake_openai.chat_requests) == 1
    assert result.status == "success" and result.usage.cost_usd > 0  # the record carries the call's cost


async def test_a_stop_lets_a_call_whose_delivery_was_revoked_land_so_the_next_owner_pays_nothing(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    """A rebalance took the delivery away while its request was out, then SIGTERM came: the runner has no
    delivery left to wait for, but the stage's stop still lets the paid call land in the answer log."""
    fake_openai.configure(latency_s=0.5)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as stage:
        await _revoked_once_the_model_answers(stage, message, fake_openai)
        # leaving this block stops the stage while the call is out
    async with caption_stage(settings) as successor:  # the partition's next owner
        result = await successor.handle(message)
    assert len(fake_openai.chat_requests) == 1
    assert result.status == "success" and result.captions is not None and result.usage.cost_usd == 0


async def test_a_stopping_replica_sends_no_retry_so_an_answer_cannot_land_after_its_grace(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path
) -> None:
    """SIGTERM came while a 429 held the request back. Its retry would go out late in the grace and its answer
    could come back after the process exited (seen in make chaos on a three-broker cluster): paid for, lost,
    paid again by the next owner. A stopping replica sends nothing more; the next owner pays once."""
    fake_openai.configure(script=["status:429"], retry_after_s=1.0)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as stage:
        delivery = asyncio.create_task(stage.handle(message))
        await _model_asked(fake_openai)  # refused with a 429: the retry waits a second
        stage.ctx.stopping.set()  # what the runner does at SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(delivery, 20)  # uncommitted: the partition's next owner handles it
        assert claims.holder(stage.store.engine, _question(message).key) is None  # given up at once
    assert [r.status for r in fake_openai.requests] == [429]
    async with caption_stage(settings) as successor:
        result = await successor.handle(message)
    assert [r.status for r in fake_openai.requests] == [429, 200]
    assert result.status == "success" and result.usage.cost_usd > 0


async def test_a_live_owner_keeps_its_claim_past_the_lease_by_renewing_it(
    fake_openai: FakeOpenAI, caption_env: dict[str, str], store_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model takes three leases to answer: the owner renews, so the other replica waits instead of
    taking the question over and paying for it again."""
    monkeypatch.setenv("MIRA_CAPTION_CLAIM_LEASE_S", "0.6")
    fake_openai.configure(latency_s=1.8)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as owner, caption_stage(settings) as other:
        first = asyncio.create_task(owner.handle(message))
        await _model_asked(fake_openai)  # the owner's call is on its way
        second = await other.handle(message)
        assert (await first).status == "success"
    assert len(fake_openai.chat_requests) == 1
    assert second.status == "success" and second.usage.cost_usd == 0
