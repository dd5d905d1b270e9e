"""Caption stage instances for tests: each opens its own store connections and claims as its own owner, as
a replica does, and handles messages through the real handler (no broker needed for `handle`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from services.caption.handler import CaptionStage
from shared.blobstore import open_blobstore
from shared.messages import ClipSpan, GridInfo, Hint, HintReady, VideoInfo
from shared.runtime.stage import StageContext
from shared.settings import Settings
from tests.caption.conftest import GRID_H, GRID_W, make_grid


def stage_settings(home: Path, store_url: str) -> Settings:
    return Settings(home=home, database_url=store_url, blob_url=f"file://{home / 'blobs'}", health_port=0)


async def hinted(settings: Settings, job_id: str, hint: str | None = "a heron fishes", shade: int = 90) -> HintReady:
    """A hinted grid message whose grid is in the blob store."""
    ref = await open_blobstore(settings.blob_url or "").put(make_grid(shade=shade))
    grid = GridInfo(uri=ref.uri, sha256=ref.sha256, width=GRID_W, height=GRID_H, frame_times_s=[0.25] * 8,
                    sample_mode="auto", image_tokens=595)
    clip = ClipSpan(clip_id=f"clip-{shade}", video_id="v", source_uri="file:///v.mp4", end_s=2.0)
    return HintReady(job_id=job_id, request_id="r", clip=clip, grid=grid,
                     video=VideoInfo(fps=24, width=1280, height=720, duration_s=2.0),
                     hint=Hint(text=hint, source="manifest" if hint else "none"))


async def _nowhere(_message: BaseModel) -> None:
    raise AssertionError("handle() publishes nothing itself")


@asynccontextmanager
async def caption_stage(settings: Settings) -> AsyncIterator[CaptionStage]:
    """A started CaptionStage (CaptionSettings come from the environment: OPENAI_*, MIRA_CAPTION_*)."""
    pool = ThreadPoolExecutor(4)
    ctx = StageContext(settings, pool, _nowhere, web.Application(), CollectorRegistry())
    stage = CaptionStage()
    await stage.start(ctx)
    try:
        yield stage
    finally:
        await stage.stop()
        await ctx.close()
        await asyncio.to_thread(pool.shutdown)
