"""Split: a whole video in, clip jobs out, one per segment, published as the shots are found.

The scan runs in steps (services/split/scan.py) in a decode pool of its own; after each step the clips its
boundaries settled are published, then the progress is saved (shared/store/cuts.py). So a redelivered video
(its replica killed, or its partition moved) resumes where the saved progress stops and publishes only what
came after; a video already scanned is never decoded again: a new submission gets the same clips (same ids:
from source and range) from the stored cut list. `auto` jobs of videos no longer than MIRA_CLIP_MAX_S go on
whole, as the clip job they are. A video that becomes unreadable part-way keeps the clips before that point;
its cut list says so and the rest is dead-lettered with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter

from services.split import detect
from services.split.scan import Scan
from services.split.segments import Lengths
from services.split.settings import SplitSettings
from shared import ids
from shared.messages import ClipJob, ClipSpan, Cut, CutList, DroppedShot, SplitClip, VideoJob
from shared.redact import public_uri
from shared.runtime.errors import BadInput
from shared.runtime.stage import Stage, StageContext
from shared.store import cuts
from shared.store.records import RecordStore
from shared.topics import Topic
from shared.video.pool import STUCK_GRACE_S, DecodePool
from shared.video.source import decode_device

SAVE_EVERY_S = 30.0  # video seconds between saves while no boundary turns up (a long shot)


@dataclass
class Progress:
    """One video's scan as this delivery sees it."""

    video: VideoJob
    key: str
    duration_s: float
    cuts: list[Cut] = field(default_factory=list)
    published: int = 0  # clips published so far (by this delivery or, resuming, by the one before)
    dropped: int = 0


class SplitStage(Stage[VideoJob]):
    name = "split"
    consumes = Topic.VIDEOS
    message = VideoJob

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.settings = s = SplitSettings()
        decode_device(s.decode_device)  # MIRA_DECODE_DEVICE=cuda without a GPU fails here, at once
        self.lengths = Lengths(s.clip_min_s, s.clip_max_s)
        assert ctx.settings.database_url is not None
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        self.decoders = DecodePool(s.decode_workers)
        ctx.spawn(self.decoders.watch(s.decode_timeout_s + STUCK_GRACE_S))
        self.shots = Counter("mira_split_shots", "Shots and pieces by outcome (clip, dropped_short)",
                             ["outcome"], registry=ctx.registry)

    async def handle(self, message: VideoJob) -> ClipJob | CutList | None:
        self.settings.source_policy.check(message.clip.source_uri)  # again: topic messages can be forged
        key = ids.digest("cuts", public_uri(message.clip.source_uri), detect.VERSION, length=64)
        stored = await self.ctx.run_blocking(cuts.load, self.store.engine, key)
        again = stored is not None and stored.request_id == message.request_id  # a redelivery: resume
        if stored is not None and stored.complete:
            p = Progress(message, key, stored.duration_s, stored.cuts)
            if again:
                p.published, p.dropped = self._counts(p, stored.duration_s, stored.duration_s)
            return await self._publish(p, stored.duration_s, stored.duration_s)
        scan = await self.decoders.run(Scan, message.clip.source_uri, self.settings)
        try:
            if message.split == "auto" and scan.duration_s <= self.settings.clip_max_s:
                return ClipJob(**message.model_dump(exclude={"split"}))
            return await self._scan(message, key, scan, stored if stored and not stored.complete else None, again)
        finally:
            await self.decoders.run(scan.close)

    async def _scan(self, video: VideoJob, key: str, scan: Scan, stored: cuts.Progress | None,
                    again: bool) -> CutList:
        p = Progress(video, key, scan.duration_s, list(stored.cuts) if stored else [])
        start = stored.scanned_to_s if stored else 0.0
        if again:
            p.published, p.dropped = self._counts(p, start, None)
        await self.decoders.run(scan.start, start)
        saved = start
        while True:
            step = await self.decoders.run(scan.step)
            new = [b for b in step.boundaries
                   if not p.cuts or b.time_s - p.cuts[-1].time_s >= detect.Tuning().min_gap_s]
            p.cuts += [Cut(time_s=round(b.time_s, 3), kind=b.kind, start_s=round(b.start_s, 3),
                           end_s=round(b.end_s, 3)) for b in new]
            end = scan.duration_s if step.done and step.failure is None else None
            listed = await self._publish(p, step.final_until, end, final=step.done)
            if new or step.done or step.final_until - saved >= SAVE_EVERY_S:
                await self._save(p, step.final_until, complete=end is not None)
                saved = step.final_until
            if not step.done:
                continue
            if step.failure is None:
                return listed
            listed = listed.model_copy(update={"complete": False, "reason": step.failure})
            await self.ctx.publish(listed)
            raise BadInput(f"{step.failure}; the {len(listed.clips)} clips before {step.final_until:.2f} s were "
                           "kept, the rest of the video was not split")

    def _counts(self, p: Progress, until: float, end: float | None) -> tuple[int, int]:
        """Clips and dropped shots the delivery before this one published, from what it saved."""
        pieces, dropped = self.lengths.clips([c.time_s for c in p.cuts], until, end)
        return len(pieces), len(dropped)

    async def _publish(self, p: Progress, until: float, end: float | None, final: bool = True) -> CutList:
        """Publish the clips settled since the last call; the cut list so far."""
        pieces, dropped = self.lengths.clips([c.time_s for c in p.cuts], until, end)
        clip = p.video.clip
        source = public_uri(clip.source_uri)
        jobs = []
        for piece in pieces:
            clip_id = ids.clip_id_for(source, piece.start_s, piece.end_s)
            span = ClipSpan(clip_id=clip_id, video_id=clip.video_id, source_uri=clip.source_uri,
                            start_s=piece.start_s, end_s=piece.end_s)
            jobs.append(ClipJob(job_id=ids.first_job_id(clip_id), request_id=p.video.request_id, clip=span,
                                manifest_hint=p.video.manifest_hint, options=p.video.options))
        for job in jobs[p.published:]:
            await self.ctx.publish(job)
            self.shots.labels("clip").inc()
        self.shots.labels("dropped_short").inc(max(0, len(dropped) - p.dropped))
        p.published, p.dropped = max(p.published, len(jobs)), max(p.dropped, len(dropped))
        return CutList(
            job_id=p.video.job_id, request_id=p.video.request_id, video_id=clip.video_id, source_uri=source,
            duration_s=round(p.duration_s, 3), cuts=p.cuts,
            clips=[SplitClip(clip_id=j.clip.clip_id, job_id=j.job_id, start_s=j.clip.start_s,
                             end_s=j.clip.end_s or 0.0) for j in jobs],
            dropped=[DroppedShot(start_s=d.start_s, end_s=d.end_s, reason=d.reason) for d in dropped],
            complete=final)

    async def _save(self, p: Progress, until: float, complete: bool) -> None:
        clip = p.video.clip
        state = cuts.Progress(p.key, clip.video_id, public_uri(clip.source_uri), p.video.request_id,
                              round(p.duration_s, 3), until if not complete else p.duration_s, complete, p.cuts)
        await self.ctx.run_blocking(cuts.save, self.store.engine, state)

    def in_flight_limit(self, default: int) -> int:
        return self.settings.decode_workers  # one video per decoder: each scan keeps its decoder busy

    async def stop(self) -> None:
        self.decoders.shutdown()
        self.store.close()
