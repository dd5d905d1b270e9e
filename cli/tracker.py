"""Follows a set of jobs through the pipeline by reading its topics (no consumer group, so nothing is
taken from the services): which clips have grids, hints, records, or were dead-lettered, and why."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from shared import kafka
from shared.messages import CaptionRecord, DeadLetter, GridReady, HintReady
from shared.settings import Settings
from shared.topics import Topic

Reached = TypeVar("Reached", GridReady, HintReady, CaptionRecord)
FOLLOWED = (Topic.GRIDS, Topic.HINTED, Topic.RECORDS, Topic.DEAD_LETTERS)


@dataclass
class JobProgress:
    gridded: dict[str, GridReady] = field(default_factory=dict)
    hinted: dict[str, HintReady] = field(default_factory=dict)
    recorded: dict[str, CaptionRecord] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)


class Tracker:
    def __init__(self, settings: Settings, job_ids: Iterable[str], done_at: Topic) -> None:
        self.settings = settings
        self.pending = set(job_ids)
        self.total = len(self.pending)
        self.done_at = done_at  # RECORDS normally; HINTED when no caption model is configured
        self.progress = JobProgress()
        self.consumer: kafka.Reader | None = None

    async def start(self, fresh: bool = False) -> None:
        """Position at the end of every followed topic before anything is submitted. `fresh`: the topics
        were created empty a moment ago (a broker this command started), so their ends need no asking."""
        self.consumer = await kafka.open_reader(self.settings, FOLLOWED, at="start" if fresh else "end")

    async def poll(self, timeout_ms: int = 500) -> None:
        assert self.consumer is not None
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        for tp, records in batch.items():
            topic = Topic(tp.topic.removeprefix(self.settings.topic_prefix))
            for record in records:
                self._see(topic, record.value)

    def _see(self, topic: Topic, value: bytes) -> None:
        p = self.progress
        if topic is Topic.DEAD_LETTERS:
            letter = kafka.decode(DeadLetter, value)
            job_id = letter.job_id or _job_id_in(letter.payload)
            if job_id in self.pending:
                p.dead[job_id] = letter
                self.pending.discard(job_id)
            return
        if topic is Topic.GRIDS:
            self._reached(topic, p.gridded, kafka.decode(GridReady, value))
        elif topic is Topic.HINTED:
            self._reached(topic, p.hinted, kafka.decode(HintReady, value))
        else:
            self._reached(topic, p.recorded, kafka.decode(CaptionRecord, value))

    def _reached(self, topic: Topic, seen: dict[str, Reached], message: Reached) -> None:
        if message.job_id not in self.pending:
            return
        seen[message.job_id] = message
        if topic is self.done_at:
            self.pending.discard(message.job_id)

    @property
    def done(self) -> bool:
        return not self.pending

    def line(self) -> str:
        p = self.progress
        parts = [f"grids {len(p.gridded)}", f"hints {len(p.hinted)}"]
        if self.done_at is Topic.RECORDS:
            parts.append(f"recorded {len(p.recorded)}")
        parts.append(f"dead-lettered {len(p.dead)}")
        return f"[{self.total - len(self.pending)}/{self.total}] " + ", ".join(parts)

    async def stop(self) -> None:
        if self.consumer:
            await self.consumer.stop()
            self.consumer = None


def _job_id_in(payload: str) -> str | None:
    try:
        value = json.loads(payload).get("job_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
