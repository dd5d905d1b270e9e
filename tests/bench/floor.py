"""The Kafka-only floor of the pipeline benchmark: the same topology (submissions -> ingest -> clips ->
framegrid -> grids -> hint -> hinted -> caption -> captions -> sink -> records), one consumer group per
stage on the same broker, each decoding its pydantic message and publishing the next one built the way the
real handler builds it, minus the work (no decode, no store, no model). What the pipeline costs above this
is our own overhead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from services.ingest.sources import to_job
from shared import kafka
from shared.messages import (
    CaptionRecord,
    CaptionResult,
    ClipJob,
    ClipSubmission,
    GridReady,
    HintReady,
)
from shared.settings import Settings
from shared.store.convert import to_record
from shared.topics import Topic


def stages(sample: CaptionResult) -> list[tuple[str, Topic, type[BaseModel], Callable[[BaseModel], BaseModel]]]:
    """(group, topic consumed, its message type, the pass-through handler) per stage, with a real result's
    parts (`sample`) standing in for the work each stage would do."""
    now = datetime.now(UTC)

    def grid(m: BaseModel) -> BaseModel:
        assert isinstance(m, ClipJob)
        return GridReady(**m.model_dump(), video=sample.video, grid=sample.grid)

    def hint(m: BaseModel) -> BaseModel:
        assert isinstance(m, GridReady)
        return HintReady(**m.model_dump(), hint=sample.hint)

    def caption(m: BaseModel) -> BaseModel:
        assert isinstance(m, HintReady)
        return CaptionResult(**m.model_dump(), status="success", captions=sample.captions, model=sample.model,
                             prompt_version=sample.prompt_version, usage=sample.usage)

    def sink(m: BaseModel) -> BaseModel:
        assert isinstance(m, CaptionResult)
        return to_record(m, 1, now)

    def ingest(m: BaseModel) -> BaseModel:
        assert isinstance(m, ClipSubmission)
        return to_job(m)

    return [
        ("ingest", Topic.SUBMISSIONS, ClipSubmission, ingest),
        ("framegrid", Topic.CLIPS, ClipJob, grid),
        ("hint", Topic.GRIDS, GridReady, hint),
        ("caption", Topic.HINTED, HintReady, caption),
        ("sink", Topic.CAPTIONS, CaptionResult, sink),
    ]


async def _pass_on(settings: Settings, group: str, topic: Topic, model: type[BaseModel],
                   handle: Callable[[BaseModel], BaseModel], stop: asyncio.Event) -> None:
    consumer = kafka.make_consumer(settings, kafka.topic_name(settings, topic), group_id=f"floor-{group}")
    producer = kafka.make_producer(settings)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            sent = []
            for records in batch.values():
                for record in records:
                    out = handle(kafka.decode(model, record.value))
                    name = kafka.topic_name(settings, kafka.TOPIC_OF[type(out)])
                    sent.append(await producer.send(name, kafka.encode(out), key=kafka.key_of(out)))
            if sent:
                await asyncio.gather(*sent)  # acknowledged before the offsets are committed
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def run_floor(settings: Settings, submissions: list[ClipSubmission], sample: CaptionResult) -> float:
    """Seconds from publishing `submissions` until every one is a record on the records topic."""
    await kafka.ensure_topics(settings)
    stop = asyncio.Event()
    workers = [asyncio.create_task(_pass_on(settings, *stage, stop)) for stage in stages(sample)]
    records = kafka.make_consumer(settings, kafka.topic_name(settings, Topic.RECORDS), group_id="floor-watch")
    await records.start()
    try:
        await asyncio.sleep(3)  # let every group settle before the clock starts
        began = time.monotonic()
        producer = kafka.make_producer(settings)
        await producer.start()
        name = kafka.topic_name(settings, Topic.SUBMISSIONS)
        await asyncio.gather(*[await producer.send(name, kafka.encode(s), key=kafka.key_of(s)) for s in submissions])
        await producer.stop()
        seen: set[str] = set()
        while len(seen) < len(submissions):
            for batch in (await records.getmany(timeout_ms=200)).values():
                seen.update(kafka.decode(CaptionRecord, r.value).job_id for r in batch)
        return time.monotonic() - began
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await records.stop()
