"""A split replica SIGKILLed half-way through a video: the video is redelivered, the scan resumes from the cut
list the store kept, and every clip goes out once.

Two `mira run split` replicas, each its own process as containers run them, share one broker and one store.
The video comes from a local HTTP server that sends it slowly (a far-away source), so its scan takes about
twenty seconds and the replica holding it can be SIGKILLed after it has published some clips and well before
it is done. Its partition moves to the other replica, which gets the video again and must publish only the
clips after the stored progress, with the same ids; the cut list it completes must be the one an
uninterrupted scan finds.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from services.split import detect
from services.split.segments import Lengths
from shared import ids, kafka
from shared.messages import ClipJob
from shared.settings import Settings
from shared.store import cuts
from shared.store.records import RecordStore
from shared.topics import Topic
from tests.bench.split import ours
from tests.chaos.fleet import Fleet, Replica
from tests.chaos.run import Config, replica_env
from tests.fake_openai.server import FakeOpenAI
from tests.kafka_io import publish, read_all
from tests.media.httpserver import serve_directory
from tests.media.shots import Shot, make_footage
from tests.split.support import video_job

SHOTS, SHOT_S = 8, 6.0  # eight 6 s shots: eight clips with MIRA_CLIP_MIN_S=2, MIRA_CLIP_MAX_S=10
SCAN_S = 20.0  # how long the slow source makes one full scan take
LENGTHS = Lengths(2.0, 10.0)


def clip_ids(source: str, bounds: list[float], until: float, end: float | None) -> list[str]:
    """The clips `bounds` settle up to `until`, in order, as the split stage names them."""
    pieces, _ = LENGTHS.clips(bounds, until, end)
    return [ids.clip_id_for(source, p.start_s, p.end_s) for p in pieces]


def shots_published(port: int | None) -> float:
    """mira_split_shots_total{outcome="clip"} of the replica whose metrics are on `port` (0 if none yet)."""
    if port is None:
        return 0.0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return 0.0
    line = next((x for x in text.splitlines() if x.startswith('mira_split_shots_total{outcome="clip"}')), None)
    return float(line.split()[-1]) if line else 0.0


async def until(fleet: Fleet, predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}; logs in {fleet.logs}"
        await asyncio.sleep(0.05)


async def test_a_split_killed_mid_video_is_resumed_by_the_other_replica_without_duplicate_clips(
    settings: Settings, tmp_path: Path
) -> None:
    videos = tmp_path / "videos"
    make_footage(videos / "long.mkv", [Shot(SHOT_S, 10 + 7 * i) for i in range(SHOTS)], fps=10)
    whole, _ = ours(videos / "long.mkv")  # the boundaries an uninterrupted scan finds
    assert len(whole) == SHOTS - 1
    await kafka.ensure_topics(settings)
    assert settings.database_url
    store = RecordStore.open(settings.database_url)
    with FakeOpenAI() as fake, serve_directory(videos) as (base, served):
        served.bytes_per_s = (videos / "long.mkv").stat().st_size / SCAN_S
        uri = f"{base}/long.mkv"
        env = {**replica_env(settings, fake, videos, Config(partitions=settings.topic_partitions)),
               "MIRA_ALLOWED_SOURCES": "http://127.0.0.1:*", "MIRA_CLIP_MIN_S": str(LENGTHS.min_s),
               "MIRA_CLIP_MAX_S": str(LENGTHS.max_s)}
        fleet = Fleet(env, tmp_path / "logs")
        try:
            replicas = [fleet.add("split"), fleet.add("split")]
            await until(fleet, lambda: all(fleet.joined(r) for r in replicas), 120, "both replicas were assigned")
            await publish(settings, video_job(uri, request_id="restart"))

            holder: list[Replica] = []

            def someone_published() -> bool:
                holder[:] = [r for r in replicas if shots_published(fleet.health_port(r)) >= 1]
                return bool(holder)

            await until(fleet, someone_published, 120, "a replica published its first clip")
            key = ids.digest("cuts", uri, detect.VERSION, length=64)

            def progress_saved() -> bool:
                saved = cuts.load(store.engine, key)
                return saved is not None and len(saved.cuts) >= SHOTS // 2 - 1  # half the clips are out

            await until(fleet, progress_saved, 60, "the holder saved its progress half-way")
            fleet.kill(holder[0])  # the crash: mid-video, its offset not committed
            assert holder[0].proc is not None
            holder[0].proc.wait(30)
            at_kill = cuts.load(store.engine, key)
            before = [j.clip.clip_id for j in await read_all(settings, Topic.CLIPS, ClipJob, expect=SHOTS,
                                                             timeout_s=3)]

            def complete() -> bool:
                saved = cuts.load(store.engine, key)
                return saved is not None and saved.complete

            await until(fleet, complete, 180, "the other replica finished the video")
            done = cuts.load(store.engine, key)
            published = [j.clip.clip_id for j in await read_all(settings, Topic.CLIPS, ClipJob,
                                                                expect=len(before) + SHOTS, timeout_s=5)]
        finally:
            fleet.stop_all(grace_s=15)
    store.close()

    assert at_kill is not None and not at_kill.complete, "the kill came after the scan was over"
    assert done is not None and done.duration_s == SHOTS * SHOT_S
    assert [c.time_s for c in done.cuts] == [round(t, 3) for t in whole]  # resumed: the uninterrupted cut list
    expected = clip_ids(uri, whole, done.duration_s, done.duration_s)
    assert len(expected) == SHOTS
    saved = clip_ids(uri, [c.time_s for c in at_kill.cuts], at_kill.scanned_to_s, None)  # what the store says
    assert 1 <= len(before) < SHOTS and sorted(before) == sorted(expected[: len(before)])  # the first ones
    assert SHOTS // 2 - 1 <= len(saved) <= len(before)  # progress is saved after the clips it settles are published
    after = Counter(published) - Counter(before)
    # The successor resumed at the stored progress: it published every clip after it, each once, and none
    # before it; a clip the killed replica published but had not yet saved is the only one that can go twice.
    assert sorted(after.elements()) == sorted(expected[len(saved):]), (before, saved, published)
    assert set(published) == set(expected)
    twice = [c for c, n in Counter(published).items() if n > 1]
    assert set(twice) <= set(before[len(saved):]), twice
