"""Hostile media cannot hang a decode worker or blow up its memory: an endless stream is dead-lettered at
its deadline and the same worker goes on to the next clip; a picture that grows mid-stream is refused; a
worker stuck where no deadline check reaches stops the service so that the platform restarts it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from services.framegrid.handler import FramegridStage
from shared.messages import ClipJob, ClipSpan, DeadLetter, GridReady
from shared.runtime.errors import BadInput
from shared.runtime.runner import Runner
from shared.settings import Settings
from shared.topics import Topic
from shared.video.pool import DecodePool, StuckDecoder
from tests.framegrid.support import render
from tests.kafka_io import publish, read_all
from tests.media.hostile import make_size_switch, serve_endless_ts
from tests.media.videos import make_video

DEADLINE_S = 3


def job(name: str, source: str) -> ClipJob:
    return ClipJob(job_id=f"job-{name}", request_id="r1",
                   clip=ClipSpan(clip_id=name, video_id=name, source_uri=source))


async def test_endless_stream_is_dead_lettered_at_its_deadline_and_the_worker_serves_the_next_clip(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = make_video(tmp_path / "videos" / "good.mp4", seconds=2, fps=12)
    with serve_endless_ts() as endless:
        monkeypatch.setenv("MIRA_DECODE_TIMEOUT_S", str(DEADLINE_S))
        monkeypatch.setenv("MIRA_DECODE_WORKERS", "1")  # one worker: held forever, the good clip never runs
        monkeypatch.setenv("MIRA_DECODE_DEVICE", "cpu")
        monkeypatch.setenv("MIRA_ALLOWED_SOURCES", f"http://127.0.0.1:*,{tmp_path / 'videos'}")
        runner = Runner(FramegridStage(), settings)
        task = asyncio.create_task(runner.run())
        try:
            await publish(settings, job("endless", endless.url))
            await publish(settings, job("good", str(good)))
            letters = await read_all(settings, Topic.DEAD_LETTERS, DeadLetter, expect=1, timeout_s=60)
            grids = await read_all(settings, Topic.GRIDS, GridReady, expect=1, timeout_s=60)
            hung_up = endless.hung_up.wait(30)  # our reader let go of the stream
        finally:
            runner.request_stop()
            await asyncio.wait_for(task, timeout=60)
    assert [(d.clip_id, d.reason) for d in letters] == [
        ("endless", f"decode exceeded {DEADLINE_S} s (MIRA_DECODE_TIMEOUT_S)")]
    assert [g.clip.clip_id for g in grids] == ["good"]
    assert hung_up and endless.requests >= 1


def test_endless_stream_is_cut_off_at_the_byte_budget() -> None:
    with serve_endless_ts() as endless, pytest.raises(BadInput) as caught:
        render(endless.url, allowed_sources="http://127.0.0.1:*", max_file_bytes=100_000, decode_timeout_s=60)
    assert caught.value.reason == "read over 100000 bytes of the source (MIRA_MAX_FILE_BYTES)"


def test_picture_growing_mid_stream_is_refused(tmp_path: Path) -> None:
    source = make_size_switch(tmp_path / "switch.ts", big=(6400, 6400))  # declares 160x96
    with pytest.raises(BadInput) as caught:
        render(source, sample_mode="exact")  # default MIRA_MAX_PIXELS: 7680x4320
    assert caught.value.reason == (
        "a decoded frame is 6400x6400, over the limit of 33177600 pixels (MIRA_MAX_PIXELS)")


async def test_a_decode_stuck_past_its_deadline_stops_the_service_for_a_restart() -> None:
    pool = DecodePool(1)
    release = threading.Event()
    stuck = asyncio.ensure_future(pool.run(release.wait, 60))  # a decoder that never returns by itself
    try:
        with pytest.raises(StuckDecoder) as caught:
            await asyncio.wait_for(pool.watch(limit_s=0.2, interval_s=0.05), timeout=30)
    finally:
        release.set()
        await stuck
        pool.shutdown()
    assert "stuck" in str(caught.value) and "MIRA_DECODE_TIMEOUT_S" in str(caught.value)
    assert pool.longest_s() == 0.0  # the worker is free again once its call returns
