"""Follows a set of jobs through the pipeline by reading its topics (no consumer group, so nothing is
taken from the services): which clips have grids, hints, records, or were dead-lettered, and why."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from shared import kafka
from shared.messages import CaptionRecord, CutList, DeadLetter, GridReady, HintReady
from shared.settings import Settings
from shared.topics import Topic

Reached = TypeVar("Reached", GridReady, HintReady, CaptionRecord)
FOLLOWED = (Topic.CUTS, Topic.GRIDS, Topic.HINTED, Topic.RECORDS, Topic.DEAD_LETTERS)


@dataclass
class JobProgress:
    gridded: dict[str, GridReady] = field(default_factory=dict)
    hinted: dict[str, HintReady] = field(default_factory=dict)
    recorded: dict[str, CaptionRecord] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)
    split: dict[str, CutList] = field(default_factory=dict)  # whole-video job id -> what split made of it


class Tracker:
    def __init__(self, settings: Settings, job_ids: Iterable[str], done_at: Topic) -> None:
        self.settings = settings
        self.pending = set(job_ids)
        self.total = len(self.pending)
        self.done_at = done_at  # RECORDS normally; HINTED when no caption model is configured
        self.progress = JobProgress()
        self.consumer: kafka.Reader | None = None
        self.names: dict[str, str] = {}  # clip jobs split made: job id -> source and range
        # Outcomes of jobs not (yet) followed: a split video's clips may reach their records before the
        # video's cut list is read (or, recorded before, come back with an earlier request's id). Kept for
        # this run's requests and videos only.
        self.requests: set[str] = set()
        self.videos: set[str] = set()
        self._early: dict[str, tuple[Topic, bytes]] = {}

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
        if topic is Topic.CUTS:
            self._split(kafka.decode(CutList, value))
            return
        if topic is Topic.DEAD_LETTERS:
            letter = kafka.decode(DeadLetter, value)
            job_id = letter.job_id or _job_id_in(letter.payload)
            if job_id in self.pending or job_id in p.split:  # a split video's rest, after its cut list
                p.dead[job_id] = letter
                self.pending.discard(job_id)
            elif job_id and _request_in(letter.payload) in self.requests:
                self._early[job_id] = (topic, value)
            return
        if topic is Topic.GRIDS:
            self._reached(topic, p.gridded, kafka.decode(GridReady, value))
        elif topic is Topic.HINTED:
            self._reached(topic, p.hinted, kafka.decode(HintReady, value))
        else:
            self._reached(topic, p.recorded, kafka.decode(CaptionRecord, value))

    def _split(self, cuts: CutList) -> None:
        """A video split into clips: follow its clips instead (the video itself is done unless it failed)."""
        if cuts.job_id not in self.pending and cuts.job_id not in self.progress.dead:
            return
        self.progress.split[cuts.job_id] = cuts
        if cuts.complete:
            self.pending.discard(cuts.job_id)
            self.total -= 1
        for clip in cuts.clips:
            self.names[clip.job_id] = f"{cuts.source_uri} [{clip.start_s:g}-{clip.end_s:g}s]"
            if clip.job_id not in self.pending:
                self.pending.add(clip.job_id)
                self.total += 1
        for job_id in [j for j in self._early if j in self.pending]:
            self._see(*self._early.pop(job_id))

    def _reached(self, topic: Topic, seen: dict[str, Reached], message: Reached) -> None:
        if message.job_id not in self.pending:
            video = message.video_id if isinstance(message, CaptionRecord) else message.clip.video_id
            if topic is self.done_at and (message.request_id in self.requests or video in self.videos):
                self._early[message.job_id] = (topic, kafka.encode(message))
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
    return _field_in(payload, "job_id")


def _request_in(payload: str) -> str | None:
    return _field_in(payload, "request_id")


def _field_in(payload: str, name: str) -> str | None:
    try:
        value = json.loads(payload).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
