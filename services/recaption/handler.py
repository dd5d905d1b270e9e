"""Recaption: a recaption request in, a new job for every clip it selects out.

When the clip's stored grid is still there the job goes straight to the hint stage (framegrid is skipped:
only the prompt, model or hint changed); otherwise, or when asked to, the grid is rendered again.
"""

from __future__ import annotations

import asyncio
from itertools import islice

from prometheus_client import Counter
from pydantic import BaseModel

from services.recaption.selection import job_for, selected
from shared import grids
from shared.blobstore import open_blobstore
from shared.messages import CaptionRecord, GridReady, RecaptionRequest
from shared.runtime.outage import OBJECT_STORE, RECORD_STORE
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic

PUBLISH_BATCH = 200  # a selection can hold millions of clips: publish as we read, never hold them all


class RecaptionStage(Stage[RecaptionRequest]):
    name = "recaption"
    consumes = Topic.RECAPTION
    message = RecaptionRequest
    dependencies = (RECORD_STORE, OBJECT_STORE)

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        assert ctx.settings.database_url and ctx.settings.blob_url
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        self.blobs = open_blobstore(ctx.settings.blob_url)
        self.jobs = Counter("mira_recaption_jobs", "Recaption jobs by route (reuse_grid, render)", ["route"],
                            registry=ctx.registry)

    async def handle(self, message: RecaptionRequest) -> None:
        records = selected(self.store, message)
        # The streaming cursor is advanced by one pool thread at a time (each read is awaited), which both
        # drivers allow (SQLAlchemy opens file SQLite with check_same_thread=False).
        while batch := await self.ctx.run_blocking(lambda: list(islice(records, PUBLISH_BATCH))):
            jobs = [await self._job(r, message) for r in batch]
            await asyncio.gather(*(self.ctx.publish(job) for job in jobs))

    async def _job(self, record: CaptionRecord, request: RecaptionRequest) -> BaseModel:
        job = job_for(record, request)
        stored = None if request.rerender_grids else await grids.load(self.blobs, grids.meta_alias(record.grid_sha256))
        if stored is None:
            self.jobs.labels("render").inc()
            return job
        self.jobs.labels("reuse_grid").inc()
        return GridReady(**job.model_dump(), video=stored.video, grid=stored.grid)

    async def stop(self) -> None:
        self.store.close()
