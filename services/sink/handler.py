"""Sink: a caption result in, an immutable record version out (stored, then published on records).

Idempotent on the job id: a redelivered result returns the version already stored, which is published
again (a crash may have come between storing and publishing; downstream dedupes on clip_id + version).
Results that arrive together are stored in one transaction (shared/coalesce.py); each is published, and
its offset committed, only after that transaction.
"""

from __future__ import annotations

import logging

from shared.coalesce import Coalescer
from shared.messages import CaptionRecord, CaptionResult
from shared.runtime.outage import RECORD_STORE
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic

log = logging.getLogger(__name__)
IN_FLIGHT = 128  # results in hand at once: what arrives together is one transaction


class SinkStage(Stage[CaptionResult]):
    name = "sink"
    consumes = Topic.CAPTIONS
    message = CaptionResult
    dependencies = (RECORD_STORE,)

    async def start(self, ctx: StageContext) -> None:
        assert ctx.settings.database_url is not None
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        self.record = Coalescer(self.store.record_all, ctx.run_blocking)

    async def handle(self, message: CaptionResult) -> CaptionRecord:
        record, created = await self.record(message)
        if not created:
            log.info("job %s already recorded as %s v%d", message.job_id, record.clip_id, record.version)
        return record

    def in_flight_limit(self, default: int) -> int:
        return max(default, IN_FLIGHT)

    async def stop(self) -> None:
        self.store.close()
