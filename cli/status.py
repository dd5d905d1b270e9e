"""`mira status`: per-stage lag and counts, failures by stage and reason, tokens and cost so far."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter

from aiokafka import TopicPartition

from cli.connect import running_settings
from services import STAGES, stage_class
from shared import kafka
from shared.messages import DeadLetter
from shared.settings import Settings
from shared.store.records import RecordStore
from shared.topics import Topic


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("status", help="topic lag, per-stage counts, failures, tokens and cost so far")


def run(args: argparse.Namespace) -> int:
    settings = running_settings()
    if settings is None:
        print("no pipeline is running on this MIRA_HOME (start one with `mira up`); stored records only:")
        settings = Settings()
    else:
        asyncio.run(_print_stream_state(settings))
    assert settings.database_url is not None
    with RecordStore.open(settings.database_url) as store:
        totals = store.totals()
    print(f"records: {totals.versions} versions of {totals.clips} clips; latest: "
          + (", ".join(f"{n} {s}" for s, n in sorted(totals.latest_by_status.items())) or "none"))
    print(f"tokens: {totals.input_tokens} input ({totals.image_tokens} image), {totals.output_tokens} output; "
          f"cost ${totals.cost_usd:.4f}")
    return 0


async def _print_stream_state(settings: Settings) -> None:
    consumer = kafka.make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await _end_offsets(consumer, settings)
        print(f"{'stage':<10} {'consumes':<10} {'published':>9} {'done':>6} {'lag':>6}")
        for name in STAGES:
            stage = stage_class(name)
            topic = kafka.topic_name(settings, stage.consumes)
            parts = {tp: end for tp, end in ends.items() if tp.topic == topic}
            done = await _committed(settings, stage.group_id(), list(parts))
            total = sum(parts.values())
            print(f"{name:<10} {stage.consumes.value:<10} {total:>9} {done:>6} {total - done:>6}")
        records = sum(end for tp, end in ends.items() if tp.topic == kafka.topic_name(settings, Topic.RECORDS))
        print(f"records published: {records}")
        await _print_dead_letters(consumer, settings, ends)
    finally:
        await consumer.stop()


async def _committed(settings: Settings, group_id: str, parts: list[TopicPartition]) -> int:
    """What a consumer group has committed (read through a member that never joins, so nothing rebalances)."""
    reader = kafka.make_consumer(settings, group_id=group_id)
    await reader.start()
    try:
        return sum([await reader.committed(tp) or 0 for tp in parts])
    finally:
        await reader.stop()


async def _end_offsets(consumer, settings: Settings) -> dict[TopicPartition, int]:  # type: ignore[no-untyped-def]
    parts = []
    for topic in Topic:
        name = kafka.topic_name(settings, topic)
        parts += [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
    return await kafka.end_offsets(consumer, parts)


async def _print_dead_letters(consumer, settings: Settings, ends: dict[TopicPartition, int]) -> None:  # type: ignore[no-untyped-def]
    name = kafka.topic_name(settings, Topic.DEAD_LETTERS)
    parts = [tp for tp in ends if tp.topic == name and ends[tp] > 0]
    total = sum(ends[tp] for tp in parts)
    print(f"dead letters: {total}")
    if not parts:
        return
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    reasons: Counter[tuple[str, str]] = Counter()
    seen = 0
    while seen < total:
        batch = await consumer.getmany(timeout_ms=1000)
        if not batch:
            break
        for records in batch.values():
            for record in records:
                letter = kafka.decode(DeadLetter, record.value)
                reasons[(letter.stage, letter.reason[:100])] += 1
                seen += 1
    for (stage, reason), n in reasons.most_common(20):
        print(f"  {n:>5}  {stage}: {reason}", file=sys.stdout)
