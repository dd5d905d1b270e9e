"""The shared runtime against the real broker: outputs published by type, poison input dead-lettered with
stage and reason, retries with backoff, fatal errors stop the service, SIGTERM drains and commits."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from services.ingest.sources import to_job
from shared import kafka
from shared.messages import ClipJob, ClipSubmission, DeadLetter
from shared.runtime.errors import BadInput, Fatal
from shared.runtime.runner import Runner
from shared.runtime.stage import Stage, StageContext
from shared.settings import Settings
from shared.topics import Topic
from tests.kafka_io import publish, read_all


class ScriptedStage(Stage[ClipSubmission]):
    """Behaviour chosen by the source name: bad:*, flaky-N:* (fails N times), slow:*, fatal:*."""

    name = "scripted"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.threads: set[str] = set()

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx

    async def handle(self, message: ClipSubmission) -> ClipJob:
        self.calls[message.source] += 1
        kind = message.source.split(":")[0]
        if kind == "bad":
            raise BadInput("this clip can never work")
        if kind.startswith("flaky") and self.calls[message.source] <= int(kind.split("-")[1]):
            raise ConnectionError("transient")
        if kind == "slow":
            await asyncio.sleep(1.0)
        if kind == "fatal":
            raise Fatal("credentials rejected")
        import threading

        self.threads.add(await self.ctx.run_blocking(lambda: threading.current_thread().name))
        return to_job(message.model_copy(update={"source": "/videos/" + message.source.replace(":", "_")}))


def sub(source: str) -> ClipSubmission:
    return ClipSubmission(source=source, request_id="r1")


async def run_until(runner: Runner, predicate, timeout_s: float = 30) -> asyncio.Task[int]:
    task = asyncio.create_task(runner.run())
    await wait_until(predicate, task, timeout_s)
    return task


async def wait_until(predicate, task: asyncio.Task[int], timeout_s: float = 30) -> None:
    """Until predicate() holds; fails when the service ended first or the time is up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        assert not task.done(), task.result()
        await asyncio.sleep(0.05)


async def test_outputs_dead_letters_and_retries(settings: Settings) -> None:
    stage = ScriptedStage()
    await publish(settings, sub("ok:1"), sub("bad:1"), sub("flaky-2:1"), sub("flaky-99:1"))
    await publish(settings, raw=[b"{not json", b'{"schema_version": 7, "source": "x", "request_id": "r"}'],
                  topic=Topic.SUBMISSIONS)
    runner = Runner(stage, settings)
    task = await run_until(runner, lambda: sum(runner.metrics.messages.labels("scripted", o)._value.get()
                                               for o in ("ok", "dead_letter")) >= 6)
    jobs = await read_all(settings, Topic.CLIPS, ClipJob, expect=2)
    letters = await read_all(settings, Topic.DEAD_LETTERS, DeadLetter, expect=4)
    runner.request_stop()
    assert await task == 0
    assert sorted(j.clip.source_uri for j in jobs) == ["file:///videos/flaky-2_1", "file:///videos/ok_1"]
    reasons = [d.reason for d in letters]
    assert len(letters) == 4
    assert all(d.stage == "scripted" for d in letters)
    assert any(r == "this clip can never work" for r in reasons)
    assert any("gave up after 5 attempts: ConnectionError: transient" in r for r in reasons)
    assert any(r.startswith("invalid ClipSubmission") for r in reasons)
    assert any("schema_version" in r for r in reasons)
    assert stage.calls["flaky-2:1"] == 3 and stage.calls["flaky-99:1"] == 5
    assert all(t.startswith("scripted") for t in stage.threads)  # CPU work ran in the worker pool


async def test_health_ready_and_metrics_endpoints(settings: Settings) -> None:
    runner = Runner(ScriptedStage(), settings)
    task = await run_until(runner, lambda: runner.health.ready)
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{runner.health.port}"
        assert (await http.get(f"{base}/healthz")).status == 200
        assert (await http.get(f"{base}/readyz")).status == 200
        await publish(settings, sub("ok:m"))
        await run_until_count(runner, "ok", 1)
        text = await (await http.get(f"{base}/metrics")).text()
    runner.request_stop()
    await task
    assert 'mira_messages_total{outcome="ok",stage="scripted"} 1.0' in text
    assert "mira_handle_seconds_bucket" in text


async def run_until_count(runner: Runner, outcome: str, n: int) -> None:
    for _ in range(300):
        if runner.metrics.messages.labels(runner.stage.name, outcome)._value.get() >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_fatal_error_stops_the_service_without_committing_it(settings: Settings) -> None:
    await publish(settings, sub("fatal:1"))
    runner = Runner(ScriptedStage(), settings)
    code = await asyncio.wait_for(runner.run(), 30)
    assert code == 2 and runner.fatal == "credentials rejected"
    # The message was not committed: the next instance sees it again.
    again = ScriptedStage()
    runner2 = Runner(again, settings.model_copy(update={"max_attempts": 1}))
    task = await run_until(runner2, lambda: again.calls["fatal:1"] >= 1)
    runner2.request_stop()
    await task


async def test_stop_finishes_in_flight_work_and_commits_it(settings: Settings) -> None:
    await publish(settings, *[sub(f"slow:{i}") for i in range(4)])
    first = ScriptedStage()
    runner = Runner(first, settings)
    task = await run_until(runner, lambda: len(runner.in_flight) == 4)
    runner.request_stop()  # what SIGTERM does
    assert await task == 0
    assert len(await read_all(settings, Topic.CLIPS, ClipJob, expect=4)) == 4
    # Everything finished before the stop was committed: a new instance, once assigned the partitions (all
    # of them: it is the group's only member), starts reading after all four messages and redoes nothing.
    second = ScriptedStage()
    runner2 = Runner(second, settings)
    task2 = await run_until(runner2, lambda: runner2.consumer is not None and bool(runner2.consumer.assignment()))
    assert runner2.consumer is not None
    positions = [await runner2.consumer.position(tp) for tp in runner2.consumer.assignment()]
    runner2.request_stop()
    await task2
    assert sum(positions) == 4
    assert sum(second.calls.values()) == 0


@pytest.mark.parametrize("grace", [0.2])
async def test_work_abandoned_at_the_grace_deadline_is_redelivered(settings: Settings, grace: float) -> None:
    settings = settings.model_copy(update={"shutdown_grace_s": grace})
    await publish(settings, sub("slow:x"))
    runner = Runner(ScriptedStage(), settings)
    task = await run_until(runner, lambda: len(runner.in_flight) == 1)
    runner.request_stop()
    assert await task == 0
    second = ScriptedStage()
    runner2 = Runner(second, settings)
    task2 = await run_until(runner2, lambda: second.calls["slow:x"] == 1)
    runner2.request_stop()
    await task2
    assert kafka.TOPIC_OF[ClipJob] is Topic.CLIPS
