"""Test helpers to publish to and read from the pipeline's topics."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiokafka import TopicPartition
from pydantic import BaseModel

from shared import kafka
from shared.settings import Settings
from shared.topics import Topic

M = TypeVar("M", bound=BaseModel)


async def publish(settings: Settings, *messages: BaseModel, raw: list[bytes] | None = None,
                  topic: Topic | None = None) -> None:
    await kafka.ensure_topics(settings)  # as a service's start-up does: a real Kafka creates none by itself
    producer = kafka.make_producer(settings)
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(kafka.topic_name(settings, kafka.TOPIC_OF[type(m)]), kafka.encode(m),
                                         key=kafka.key_of(m))
        for value in raw or []:
            assert topic is not None
            await producer.send_and_wait(kafka.topic_name(settings, topic), value)
    finally:
        await producer.stop()


async def read_all(settings: Settings, topic: Topic, model: type[M], expect: int, timeout_s: float = 30) -> list[M]:
    """Read a topic from the beginning until `expect` messages arrived (or the timeout passes)."""
    consumer = kafka.make_consumer(settings, group_id=None)
    await consumer.start()
    out: list[M] = []
    try:
        name = kafka.topic_name(settings, topic)
        parts = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < expect and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(kafka.decode(model, r.value) for r in records)
    finally:
        await consumer.stop()
    return out
