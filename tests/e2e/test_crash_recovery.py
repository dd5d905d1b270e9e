"""Crash between the model call and the offset commit: the redelivered messages must not pay again.

The caption service runs as its own process with commits held back (a long commit interval), answers
every clip, publishes the results, and is SIGKILLed before committing, with no sink running, so no record
exists yet. Its successor receives every message again and must find the paid answers instead of calling
the model; the sink then records each clip once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared.blobstore import open_blobstore
from shared.broker import free_port
from shared.messages import CaptionResult, ClipSpan, GridInfo, Hint, HintReady
from shared.settings import Settings, as_env
from shared.store.records import RecordStore
from shared.topics import Topic
from tests.conftest import FAST_GROUPS
from tests.fake_openai.server import FakeOpenAI
from tests.kafka_io import publish, read_all
from tests.media.videos import make_video

CLIPS = 4


async def hinted_jobs(settings: Settings, tmp_path: Path) -> list[HintReady]:
    video = make_video(tmp_path / "v.mp4", seconds=4, fps=12)
    blobs = open_blobstore(settings.blob_url or "")
    jobs = []
    for i in range(CLIPS):
        clip = ClipSpan(clip_id=f"clip{i}", video_id="v", source_uri=video.as_uri(), start_s=i * 0.5,
                        end_s=i * 0.5 + 2)
        grid = render_grid(clip, FramegridSettings())
        ref = await blobs.put(grid.jpeg)
        info = GridInfo(uri=ref.uri, sha256=ref.sha256, width=grid.width, height=grid.height,
                        frame_times_s=grid.frame_times_s, sample_mode=grid.sample_mode,
                        image_tokens=grid.image_tokens)
        jobs.append(HintReady(job_id=f"job{i}", request_id="r", clip=clip, video=grid.video, grid=info,
                              hint=Hint(text=None, source="none")))
    return jobs


def service(name: str, settings: Settings, fake: FakeOpenAI, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(as_env(FAST_GROUPS))
    env.update(MIRA_HOME=str(settings.home), MIRA_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
               MIRA_TOPIC_PREFIX=settings.topic_prefix, MIRA_TOPIC_PARTITIONS=str(settings.topic_partitions),
               MIRA_HEALTH_PORT="0", OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test")
    env.update(extra)
    return subprocess.Popen([sys.executable, "-m", "cli.main", "run", name], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_for_metric(port: int, line: str, timeout_s: float = 60) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(timeout_s * 5)):
            try:
                if line in await (await http.get(f"http://127.0.0.1:{port}/metrics")).text():
                    return
            except aiohttp.ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.2)
    raise AssertionError(f"never saw {line}")


async def wait_for(predicate, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_a_caption_service_killed_before_committing_never_pays_again(
    settings: Settings, tmp_path: Path
) -> None:
    jobs = await hinted_jobs(settings, tmp_path)
    assert settings.database_url
    store = RecordStore.open(settings.database_url)
    with FakeOpenAI() as fake:
        # No sink yet: the answers reach no record before the crash, only the caption stage's answer log.
        caption = service("caption", settings, fake, MIRA_COMMIT_INTERVAL_S="3600")  # never commits in time
        try:
            await publish(settings, *jobs)
            await wait_for(lambda: len(fake.chat_requests) == CLIPS)
            # Every result on the captions topic: each answer was logged before its result was published.
            published = await read_all(settings, Topic.CAPTIONS, CaptionResult, expect=CLIPS, timeout_s=60)
            assert len(published) == CLIPS
        finally:
            caption.send_signal(signal.SIGKILL)  # the crash: model paid, results published, offsets not committed
            caption.wait()
        port = free_port()
        successor = service("caption", settings, fake, MIRA_HEALTH_PORT=str(port))
        sink = service("sink", settings, fake)
        try:
            # The successor gets all four messages again and finds every answer already paid for.
            await wait_for_metric(port, 'mira_caption_calls_total{how="reused"} 4.0')
            await wait_for(lambda: store.totals().versions == CLIPS)
            await asyncio.sleep(1)  # time for any duplicate to show up
        finally:
            for proc in (successor, sink):
                proc.terminate()
                proc.wait(30)
    assert len(fake.chat_requests) == CLIPS  # nothing paid twice
    records = list(store.iter_records(version="all"))
    assert sorted(r.clip_id for r in records) == [f"clip{i}" for i in range(CLIPS)]
    assert all(r.version == 1 and r.status == "success" and r.dense_caption for r in records)
    store.close()
