"""Reading the dead-letter topic back from its beginning, for people asking "what failed, and why?"
(the review page's failures). Only shared/ talks Kafka, so the reading lives here."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from shared import kafka
from shared.messages import DeadLetter
from shared.settings import Settings
from shared.topics import Topic


async def read_dead_letters(settings: Settings, limit: int = 100_000, timeout_s: float = 10.0) -> list[DeadLetter]:
    """Every dead letter published so far (the first `limit`), read without joining any consumer group.
    Letters that no longer parse as DeadLetter are skipped: this is a report, not a consumer."""
    consumer = kafka.make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        name = kafka.topic_name(settings, Topic.DEAD_LETTERS)
        if name not in await consumer.topics():  # also refreshes the metadata partitions_for_topic reads
            return []
        parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        ends = await kafka.end_offsets(consumer, parts)
        parts = [tp for tp in parts if ends[tp] > 0]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        wanted = min(limit, sum(ends[tp] for tp in parts))
        letters: list[DeadLetter] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(letters) < wanted and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(*parts, timeout_ms=200)).values():
                for message in batch:
                    try:
                        letters.append(kafka.decode(DeadLetter, message.value))
                    except ValueError:
                        continue
        return letters[:limit]
    finally:
        await consumer.stop()
