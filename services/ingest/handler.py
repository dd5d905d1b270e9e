"""Ingest: a clip submission in, a clip job with deterministic ids out.

Submissions arrive on the submissions topic (from `mira caption`), from POST /v1/clips (services/ingest/
api.py, on its own listener), or from a watched folder; the latter two publish onto the same topic so every
clip takes one path. Each job id is claimed in the database (services/ingest/identity.py) before the job is
published: a job id already taken by another source, range or hint is dead-lettered, never dropped.
Every source is checked against MIRA_ALLOWED_SOURCES (shared/sources/policy.py) on both paths. Whole videos
(no time range) go to the split stage as VideoJobs unless MIRA_SPLIT (or the submission) says off.
"""

from __future__ import annotations

from services.ingest import identity, lookup
from services.ingest.api import ClipRequest, IngestApi, Lookups
from services.ingest.apimodels import Accepted, AcceptedClip, ClipState, JobState
from services.ingest.settings import IngestSettings
from services.ingest.sources import new_request_id, routed, to_job
from services.ingest.watch import watch_folder
from shared.messages import ClipJob, ClipSubmission
from shared.runtime.errors import BadInput
from shared.runtime.outage import RECORD_STORE
from shared.runtime.stage import Stage, StageContext
from shared.sources.policy import SourceSettings
from shared.store.records import RecordStore
from shared.topics import Topic


class IngestStage(Stage[ClipSubmission]):
    name = "ingest"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission
    dependencies = (RECORD_STORE,)

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        settings = IngestSettings()
        self.split = settings.split
        self.max_hint_chars = ctx.settings.max_hint_chars
        self.policy = SourceSettings().source_policy
        assert ctx.settings.database_url is not None
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        self.api = IngestApi(settings, self._accept, Lookups(self._clip_state, self._job_state))
        try:
            await self.api.start()
        except BaseException:
            self.store.close()  # stop() is only called after a successful start
            raise
        if settings.ingest_watch_dir:
            ctx.spawn(watch_folder(settings.ingest_watch_dir, settings.ingest_watch_interval_s, ctx.publish))

    async def handle(self, message: ClipSubmission) -> ClipJob:
        job = self._job(message)
        await self.ctx.run_blocking(identity.claim, self.store.engine, job)
        return routed(message, job, self.split)  # whole videos go to split (MIRA_SPLIT)

    def _job(self, sub: ClipSubmission) -> ClipJob:
        job = to_job(sub, self.max_hint_chars)
        self.policy.check(job.clip.source_uri)  # the path made absolute, symlinks resolved again here
        return job

    async def stop(self) -> None:
        await self.api.stop()
        self.store.close()

    async def _clip_state(self, clip_id: str) -> ClipState | None:
        return await self.ctx.run_blocking(lookup.clip_state, self.store.engine, clip_id)

    async def _job_state(self, job_id: str) -> JobState | None:
        return await self.ctx.run_blocking(lookup.job_state, self.store.engine, job_id)

    async def _accept(self, clips: list[ClipRequest]) -> Accepted:
        """Check every clip of one API request, then publish them all; BadInput refuses the whole request."""
        request_id = new_request_id()
        for clip in clips:
            identity.check_id("request_id", clip.request_id or None)
            if len(clip.hint or "") > self.max_hint_chars:
                raise BadInput(f"hint is {len(clip.hint or '')} characters, over {self.max_hint_chars} "
                               "(MIRA_MAX_HINT_CHARS)")
        subs = [ClipSubmission(**c.model_dump(exclude={"request_id"}), request_id=c.request_id or request_id)
                for c in clips]
        jobs = [self._job(sub) for sub in subs]  # the caller learns ids and bad ranges at once
        for job in jobs:
            await self.ctx.run_blocking(identity.claim, self.store.engine, job)
        for sub in subs:
            await self.ctx.publish(sub)
        return Accepted(request_id=request_id,
                        clips=[AcceptedClip(clip_id=j.clip.clip_id, job_id=j.job_id) for j in jobs])
