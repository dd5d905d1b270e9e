"""Kafka clients built from settings, topic names, message encoding and topic creation.

Security settings pass straight through to aiokafka so the same code talks to the embedded broker,
Strimzi, MSK (SASL/IAM via SCRAM) or Confluent Cloud (SASL_SSL/PLAIN).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel

from shared.messages import (
    CaptionRecord,
    CaptionResult,
    ClipJob,
    ClipSubmission,
    CutList,
    DeadLetter,
    GridReady,
    HintReady,
    RecaptionRequest,
    VideoJob,
)
from shared.settings import Settings
from shared.topics import Topic

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

# Exact type -> topic: a stage's return value says where it goes, so handlers never name topics.
TOPIC_OF: dict[type[BaseModel], Topic] = {
    ClipSubmission: Topic.SUBMISSIONS,
    VideoJob: Topic.VIDEOS,
    ClipJob: Topic.CLIPS,
    CutList: Topic.CUTS,
    GridReady: Topic.GRIDS,
    HintReady: Topic.HINTED,
    CaptionResult: Topic.CAPTIONS,
    CaptionRecord: Topic.RECORDS,
    RecaptionRequest: Topic.RECAPTION,
    DeadLetter: Topic.DEAD_LETTERS,
}

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
JOIN_MARGIN_MS = 5000  # what Kafka's own clients add to the rebalance timeout for a JoinGroup request


def topic_name(settings: Settings, topic: Topic) -> str:
    return topic.full(settings.topic_prefix)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode()


def decode(model: type[M], data: bytes | None) -> M:
    return model.model_validate_json(data or b"")


def key_of(message: BaseModel) -> bytes | None:
    """Partition by clip so every message about one clip stays in order on one partition."""
    clip = getattr(message, "clip", None)
    key = getattr(clip, "clip_id", None) or getattr(message, "clip_id", None)
    key = key or getattr(message, "source", None) or getattr(message, "request_id", None)
    return key.encode() if key else None


def client_options(settings: Settings) -> dict[str, Any]:
    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka bootstrap address: set MIRA_KAFKA_BOOTSTRAP or start `mira up`")
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if "SSL" in settings.kafka_security_protocol:
        opts["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    return opts


def make_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        max_request_size=MAX_MESSAGE_BYTES,
        compression_type=settings.kafka_compression,
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )


def make_consumer(settings: Settings, *topics: str, group_id: str | None, **extra: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **client_options(settings),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        # The runtime keeps polling (with full partitions paused) while messages are held for long.
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        # A join is answered only once the whole group has rejoined (up to the rebalance timeout).
        request_timeout_ms=max(settings.kafka_request_timeout_ms, settings.kafka_rebalance_timeout_ms + JOIN_MARGIN_MS),
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
        **extra,
    )


async def ensure_topics(settings: Settings) -> None:
    """Create every pipeline topic that is missing (real clusters may manage them with Strimzi instead)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [topic_name(settings, t) for t in Topic]
        missing = [
            NewTopic(name, num_partitions=settings.topic_partitions,
                     replication_factor=settings.topic_replication_factor,
                     topic_configs={"min.insync.replicas": str(settings.topic_min_insync_replicas),
                                    "max.message.bytes": str(MAX_MESSAGE_BYTES)})
            for name in wanted
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process won the race
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()


async def end_offsets(consumer: AIOKafkaConsumer, parts: list[TopicPartition], timeout_s: float = 3.0) -> dict[
        TopicPartition, int]:
    """Each partition's end offset. ListOffsets is corrected by the high watermark a fetch reports, because
    the embedded broker answers ListOffsets with the start of the last batch (it undercounts batched writes).
    Leaves `consumer` assigned to `parts`, positioned somewhere before their ends."""
    listed = await consumer.end_offsets(parts) if parts else {}
    consumer.assign(parts)
    for tp, offset in listed.items():
        consumer.seek(tp, offset)
    deadline = asyncio.get_running_loop().time() + timeout_s
    waiting = [tp for tp in parts if consumer.highwater(tp) is None]
    while waiting and asyncio.get_running_loop().time() < deadline:
        await consumer.getmany(*waiting, timeout_ms=100, max_records=1)
        waiting = [tp for tp in waiting if consumer.highwater(tp) is None]
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in parts}


# What the CLI and the review page need from Kafka, so that only shared/ talks to it: publish messages, and
# read topics without joining a consumer group (so nothing is taken from the services).
Reader: TypeAlias = AIOKafkaConsumer  # the type of a reader, for callers that must not import aiokafka


async def publish_all(settings: Settings, messages: Sequence[BaseModel]) -> None:
    """Each message to its type's topic, keyed as the runtime keys it; returns once all are acknowledged."""
    producer = make_producer(settings)
    await producer.start()
    try:
        await asyncio.gather(*[
            producer.send_and_wait(topic_name(settings, TOPIC_OF[type(m)]), encode(m), key=key_of(m))
            for m in messages
        ])
    finally:
        await producer.stop()


async def partitions(consumer: AIOKafkaConsumer, name: str, refresh: bool = True) -> list[TopicPartition]:
    """A topic's partitions; `refresh` asks the broker again when none are known (a topic created a moment
    ago), and then assumes one partition rather than none."""
    found = consumer.partitions_for_topic(name)
    if not found and refresh:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(name) or {0}
    return [TopicPartition(name, p) for p in sorted(found or ())]


async def open_reader(settings: Settings, topics: Iterable[Topic], at: Literal["start", "end"]) -> Reader:
    """A consumer in no group, assigned to every partition of `topics`, positioned at their start or end.
    "start" is for topics created empty a moment ago: their ends need no asking. The caller stops it."""
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    parts = [tp for t in topics for tp in await partitions(consumer, topic_name(settings, t))]
    if at == "start":
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        return consumer
    for tp, end in (await end_offsets(consumer, parts)).items():
        consumer.seek(tp, end)
    return consumer


async def topic_ends(settings: Settings, topics: Iterable[Topic]) -> dict[TopicPartition, int]:
    """Every known partition of `topics` with its end offset (messages published so far)."""
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        parts = [tp for t in topics for tp in await partitions(consumer, topic_name(settings, t), refresh=False)]
        return await end_offsets(consumer, parts)
    finally:
        await consumer.stop()


async def group_committed(settings: Settings, group_id: str, parts: Iterable[TopicPartition]) -> int:
    """What a consumer group has committed over `parts`, read through a member that never joins the group
    (so nothing rebalances)."""
    reader = make_consumer(settings, group_id=group_id)
    await reader.start()
    try:
        return sum([await reader.committed(tp) or 0 for tp in parts])
    finally:
        await reader.stop()
