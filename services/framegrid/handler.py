"""Framegrid: a clip job in, a stored 2x4 grid out.

A grid already rendered for the same clip range and render settings is found by its alias and reused,
so resubmitted clips and recaptions never decode the video again.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import Counter

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared import grids, ids
from shared.blobstore import open_blobstore
from shared.grids import StoredGrid
from shared.messages import ClipJob, GridInfo, GridReady
from shared.runtime.stage import Stage, StageContext
from shared.topics import Topic


class FramegridStage(Stage[ClipJob]):
    name = "framegrid"
    consumes = Topic.CLIPS
    message = ClipJob

    async def start(self, ctx: StageContext) -> None:
        self.settings = FramegridSettings()
        assert ctx.settings.blob_url is not None
        self.blobs = open_blobstore(ctx.settings.blob_url)
        # Decoding gets a pool sized to the machine, apart from the runtime's pool for quick blocking calls.
        self.decoders = ThreadPoolExecutor(self.settings.decode_workers, thread_name_prefix="decode")
        self.grids = Counter("mira_grids", "Grids by outcome (rendered, reused)", ["outcome"], registry=ctx.registry)

    async def handle(self, message: ClipJob) -> GridReady:
        model = message.options.model or self.settings.sizing_model
        alias = self._alias(message, model)
        stored = await grids.load(self.blobs, alias)
        if stored is None:
            stored = await self._render(message, model)
            await grids.save(self.blobs, stored, alias)
            self.grids.labels("rendered").inc()
        else:
            self.grids.labels("reused").inc()
        return GridReady(**message.model_dump(), video=stored.video, grid=stored.grid)

    def _alias(self, message: ClipJob, model: str) -> str:
        s = self.settings
        clip = message.clip
        return "grid:" + ids.digest(clip.source_uri, clip.start_s, clip.end_s, s.sample_mode, s.keyframe_tolerance_s,
                                    s.grid_tile_budget, s.jpeg_quality, model, length=32)

    async def _render(self, message: ClipJob, model: str) -> StoredGrid:
        loop = asyncio.get_running_loop()
        grid = await loop.run_in_executor(self.decoders, render_grid, message.clip, self.settings, model)
        ref = await self.blobs.put(grid.jpeg, suffix=".jpg", content_type="image/jpeg")
        info = GridInfo(uri=ref.uri, sha256=ref.sha256, width=grid.width, height=grid.height,
                        frame_times_s=grid.frame_times_s, sample_mode=grid.sample_mode,
                        image_tokens=grid.image_tokens)
        return StoredGrid(video=grid.video, grid=info)

    async def stop(self) -> None:
        self.decoders.shutdown(wait=False, cancel_futures=True)
