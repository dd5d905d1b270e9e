"""Decoding runs in a worker pool off the event loop: clips render in parallel threads with correct
results, and the loop (which heartbeats to Kafka) keeps turning while they decode."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from services.framegrid.store import GridMaker
from shared.blobstore import open_blobstore
from tests.framegrid.support import Videos, clip, settings

TURNS = 3  # loop turns each decode must see complete while it runs


async def test_parallel_renders_are_correct_and_leave_the_loop_free(videos: Videos, tmp_path: Path) -> None:
    config = settings(sample_mode="exact")
    assert config.decode_workers >= 1
    source = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    pool = ThreadPoolExecutor(max_workers=max(2, config.decode_workers))
    turns = 0
    turned = threading.Condition()
    loop_free: list[bool] = []

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0.005)
            with turned:
                turns += 1
                turned.notify_all()

    def decode_watching_the_loop(fn: Any, *args: Any) -> Any:
        """The decode, then a wait (in this worker thread) until the loop has turned TURNS more times than when
        the decode began. A loop blocked for as long as the decodes run would never get there."""
        with turned:
            began = turns
        result = fn(*args)
        with turned:
            loop_free.append(turned.wait_for(lambda: turns >= began + TURNS, timeout=60))
        return result

    async def run_blocking(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, decode_watching_the_loop, fn, *args)

    tick = asyncio.create_task(ticker())
    maker = GridMaker(config, open_blobstore((tmp_path / "blobs").as_uri()))
    ranges = [(float(s), float(s + 8)) for s in range(0, 12, 2)]
    results = await asyncio.gather(*(maker.grid_for(clip(source, a, b), run_blocking) for a, b in ranges))
    tick.cancel()
    pool.shutdown()
    for (a, b), (stored, rendered) in zip(ranges, results, strict=True):
        assert rendered and all(a <= t < b for t in stored.grid.frame_times_s)
    assert loop_free == [True] * len(ranges)  # every decode ran in a worker while the loop went on
