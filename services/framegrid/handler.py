"""Framegrid: a clip job in, a stored 2x4 grid out.

A grid already rendered for the same clip range, render settings and image-token rule is reused
(services/framegrid/store.py), so resubmitted clips and recaptions never decode the video again. The
source policy is checked before that, so a forged job for a source outside it gets nothing, stored or not.
Decoding runs in a pool of its own (shared/video/pool.py), watched for workers stuck past their deadline.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from services.framegrid.settings import FramegridSettings
from services.framegrid.store import GridMaker
from shared.blobstore import open_blobstore
from shared.messages import ClipJob, GridReady
from shared.runtime.outage import OBJECT_STORE
from shared.runtime.stage import Stage, StageContext
from shared.topics import Topic
from shared.video.pool import STUCK_GRACE_S, DecodePool
from shared.video.source import decode_device


class FramegridStage(Stage[ClipJob]):
    name = "framegrid"
    consumes = Topic.CLIPS
    message = ClipJob
    dependencies = (OBJECT_STORE,)

    async def start(self, ctx: StageContext) -> None:
        self.settings = FramegridSettings()
        decode_device(self.settings.decode_device)  # MIRA_DECODE_DEVICE=cuda without a GPU fails here, at once
        assert ctx.settings.blob_url is not None
        self.maker = GridMaker(self.settings, open_blobstore(ctx.settings.blob_url))
        # Decoding gets a pool sized to the machine, apart from the runtime's pool for quick blocking calls.
        self.decoders = DecodePool(self.settings.decode_workers)
        ctx.spawn(self.decoders.watch(self.settings.decode_timeout_s + STUCK_GRACE_S))
        self.grids = Counter("mira_grids", "Grids by outcome (rendered, reused)", ["outcome"],
                             registry=ctx.registry)

    async def handle(self, message: ClipJob) -> GridReady:
        self.settings.source_policy.check(message.clip.source_uri)  # again: topic messages can be forged
        stored, rendered = await self.maker.grid_for(message.clip, self._decode, model=message.options.model)
        self.grids.labels("rendered" if rendered else "reused").inc()
        return GridReady(**message.model_dump(), video=stored.video, grid=stored.grid)

    def in_flight_limit(self, default: int) -> int:
        return max(default, self.settings.decode_workers)  # keep every decoder busy

    async def _decode(self, fn: Any, *args: Any) -> Any:
        return await self.decoders.run(fn, *args)

    async def stop(self) -> None:
        self.decoders.shutdown()
