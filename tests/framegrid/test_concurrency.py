"""Decoding runs in a worker pool off the event loop: clips render in parallel threads with correct
results, and the loop (which heartbeats to Kafka) stays responsive meanwhile."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from services.framegrid.store import GridMaker
from shared.blobstore import open_blobstore
from tests.framegrid.support import Videos, clip, settings


async def test_parallel_renders_are_correct_and_leave_the_loop_free(videos: Videos, tmp_path: Path) -> None:
    config = settings(sample_mode="exact")
    assert config.decode_workers >= 1
    source = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    pool = ThreadPoolExecutor(max_workers=max(2, config.decode_workers))

    async def run_blocking(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    gaps: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - before)

    tick = asyncio.create_task(ticker())
    maker = GridMaker(config, open_blobstore((tmp_path / "blobs").as_uri()))
    ranges = [(float(s), float(s + 8)) for s in range(0, 12, 2)]
    results = await asyncio.gather(*(maker.grid_for(clip(source, a, b), run_blocking) for a, b in ranges))
    tick.cancel()
    pool.shutdown()
    for (a, b), (stored, rendered) in zip(ranges, results, strict=True):
        assert rendered and all(a <= t < b for t in stored.grid.frame_times_s)
    assert max(gaps) < 0.25, f"event loop blocked for {max(gaps):.3f} s"
