"""Rebalances with work in flight, against the real broker: a member that gives partitions away first lets
their work finish and commits it, so nothing is committed unfinished and nothing runs twice; a member
whose handler is slower than max_poll_interval_ms keeps polling and keeps its partitions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition

from shared import kafka
from shared.messages import ClipSubmission
from shared.runtime.runner import Runner
from shared.settings import Settings
from shared.topics import Topic
from tests.kafka_io import publish
from tests.runtime.stages import SlowStage
from tests.runtime.test_runner import run_until, sub


async def sources_by_offset(settings: Settings, count: int) -> dict[tuple[int, int], str]:
    """(partition, offset) -> source of every submission published so far."""
    consumer = kafka.make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        name = kafka.topic_name(settings, Topic.SUBMISSIONS)
        parts = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        out: dict[tuple[int, int], str] = {}
        deadline = asyncio.get_running_loop().time() + 30
        while len(out) < count:
            assert asyncio.get_running_loop().time() < deadline, f"read {len(out)} of {count} submissions"
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    out[(tp.partition, r.offset)] = kafka.decode(ClipSubmission, r.value).source
        return out
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def commits_checked(settings: Settings, group: str, where: dict[tuple[int, int], str],
                          done: set[str]) -> AsyncIterator[list[str]]:
    """Reads the group's commits over and over (without joining it) while the block runs; yields the list
    of violations found: a committed offset with a message below it that had not finished."""
    violations: list[str] = []
    reader = kafka.make_consumer(settings, group_id=group)
    await reader.start()
    name = kafka.topic_name(settings, Topic.SUBMISSIONS)

    async def watch() -> None:
        while True:
            for p in range(settings.topic_partitions):
                committed = await reader.committed(TopicPartition(name, p)) or 0
                unfinished = [where[(p, o)] for o in range(committed) if where[(p, o)] not in done]
                if unfinished:
                    violations.append(f"partition {p} committed {committed} with {unfinished} unfinished")
            await asyncio.sleep(0.05)

    task = asyncio.create_task(watch())
    try:
        yield violations
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await reader.stop()


async def test_a_member_joining_while_work_is_in_flight_causes_no_early_commit_and_no_rerun(
        settings: Settings) -> None:
    n = 16  # enough that the first member is still busy when the second one has joined
    settings = settings.model_copy(update={"max_in_flight": 4})
    await kafka.ensure_topics(settings)  # two partitions, not what the broker would make on first use
    await publish(settings, *[sub(f"slow:{i}") for i in range(n)])
    where = await sources_by_offset(settings, n)
    done: set[str] = set()
    first, second = SlowStage(1.2, done), SlowStage(1.2, done)
    one, two = Runner(first, settings), Runner(second, settings)
    async with commits_checked(settings, SlowStage.group_id(), where, done) as violations:
        task1 = await run_until(one, lambda: len(one.in_flight) == 4)
        task2 = await run_until(two, lambda: len(done) == n, timeout_s=90)  # joins: the group rebalances
        assert violations == []
    one.request_stop()
    two.request_stop()
    assert await task1 == 0 and await task2 == 0
    assert sum(second.started.values()) > 0, "the second member never got any work: no rebalance happened"
    # Neither member ran a message twice (the first one's revoked work finished before anyone refetched it).
    assert max(first.started.values()) == 1 and max(second.started.values()) == 1
    assert sum(first.started.values()) + sum(second.started.values()) == n
    assert one.metrics.rebalances.labels(SlowStage.name)._value.get() >= 2  # it gave both partitions back


class PatientStage(SlowStage):
    name = "patient"  # a group of its own: members other tests left behind may linger until their session ends


async def test_a_handler_slower_than_max_poll_interval_keeps_its_partitions(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.runtime.consume")
    settings = settings.model_copy(update={"max_in_flight": 1, "kafka_max_poll_interval_ms": 1000})
    await publish(settings, *[sub(f"slow:{i}") for i in range(3)])
    stage = PatientStage(1.6)  # each message takes longer than the poll interval allows
    runner = Runner(stage, settings)
    task = await run_until(runner, lambda: len(stage.done) == 3, timeout_s=60)
    await asyncio.sleep(1.0)  # a member evicted meanwhile would rejoin and refetch what it had not committed
    runner.request_stop()
    assert await task == 0
    assert dict(stage.started) == {f"slow:{i}": 1 for i in range(3)}
    assignments = [r for r in caplog.records if r.getMessage().startswith("patient assigned")]
    assert len(assignments) == 1, "the member left its group while its handler ran, and joined again"
