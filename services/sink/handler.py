"""Sink: a caption result in, an immutable record version out (stored, then published on records).

Idempotent on the job id: a redelivered result returns the version already stored, which is published
again (a crash may have come between storing and publishing; downstream dedupes on clip_id + version).
"""

from __future__ import annotations

import logging

from shared.messages import CaptionRecord, CaptionResult
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic

log = logging.getLogger(__name__)


class SinkStage(Stage[CaptionResult]):
    name = "sink"
    consumes = Topic.CAPTIONS
    message = CaptionResult

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        assert ctx.settings.database_url is not None
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)

    async def handle(self, message: CaptionResult) -> CaptionRecord:
        record, created = await self.ctx.run_blocking(self.store.record, message)
        if not created:
            log.info("job %s already recorded as %s v%d", message.job_id, record.clip_id, record.version)
        return record

    async def stop(self) -> None:
        self.store.close()
