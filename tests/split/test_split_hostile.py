"""Bad and hostile sources for the split stage: a source outside MIRA_ALLOWED_SOURCES, one over
MIRA_MAX_FILE_BYTES, one that trickles (its scan ends at the deadline MIRA_SPLIT_TIMEOUT_FACTOR gives it,
keeping the clips found before) and one that never ends are each dead-lettered with their reason, and the
stage goes on to split the next video."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.split.handler import SplitStage
from services.split.scan import Scan
from services.split.settings import SplitSettings
from shared.messages import ClipJob, DeadLetter
from shared.runtime.errors import BadInput
from shared.settings import Settings
from shared.sources.policy import REFUSED
from shared.topics import Topic
from tests.kafka_io import publish, read_all
from tests.media.hostile import serve_endless_ts
from tests.media.httpserver import serve_directory
from tests.media.shots import Shot, make_footage
from tests.running import running
from tests.split.support import video_job

MAX_BYTES = 1_000_000
OPEN_S, FACTOR = 10.0, 0.1  # MIRA_DECODE_TIMEOUT_S to open a source; its scan may take FACTOR x its length
SLOW_S = 40.0  # the trickling video's length: its scan's deadline is OPEN_S + FACTOR * SLOW_S = 14 s


async def test_refused_oversized_and_trickling_sources_are_dead_lettered_and_the_next_video_is_split(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "videos"
    make_footage(videos / "slow.mkv", [Shot(SLOW_S / 8, 30 + i) for i in range(8)], fps=10)
    make_footage(videos / "good.mkv", [Shot(4.0, 1), Shot(4.0, 8)], fps=10)
    (videos / "huge.mkv").write_bytes(b"\0" * (MAX_BYTES + 1))
    outside = tmp_path / "elsewhere" / "v.mkv"
    make_footage(outside, [Shot(4.0, 2)], fps=10)
    with serve_directory(videos) as (base, served):
        # The whole file would take about 30 s: the scan's deadline comes first, a third of the way in.
        served.bytes_per_s = (videos / "slow.mkv").stat().st_size / 30
        for name, value in {"MIRA_ALLOWED_SOURCES": f"http://127.0.0.1:*,{videos}", "MIRA_DECODE_WORKERS": "1",
                            "MIRA_DECODE_DEVICE": "cpu", "MIRA_DECODE_TIMEOUT_S": str(OPEN_S),
                            "MIRA_SPLIT_TIMEOUT_FACTOR": str(FACTOR), "MIRA_MAX_FILE_BYTES": str(MAX_BYTES),
                            "MIRA_CLIP_MIN_S": "2", "MIRA_CLIP_MAX_S": "10"}.items():
            monkeypatch.setenv(name, value)
        slow, good = f"{base}/slow.mkv", str(videos / "good.mkv")
        jobs = {"refused": video_job(str(outside)), "huge": video_job(str(videos / "huge.mkv")),
                "slow": video_job(slow), "good": video_job(good)}
        async with running(SplitStage(), settings):
            await publish(settings, *jobs.values())  # one decode worker: one video after the other
            letters = await read_all(settings, Topic.DEAD_LETTERS, DeadLetter, expect=3, timeout_s=120)
            reasons = {d.job_id: d.reason for d in letters}
            kept = re.search(r"the (\d+) clips before", reasons.get(jobs["slow"].job_id, ""))
            expect = 2 + (int(kept[1]) if kept else 0)  # the good video's two, and those the slow one kept
            clips = await read_all(settings, Topic.CLIPS, ClipJob, expect=expect, timeout_s=60)
    assert len(letters) == 3 and all(d.stage == "split" for d in letters)
    assert reasons[jobs["refused"].job_id] == REFUSED
    assert reasons[jobs["huge"].job_id] == f"file is {MAX_BYTES + 1} bytes, over the limit of {MAX_BYTES} (MIRA_MAX_FILE_BYTES)"
    from_slow = [c for c in clips if c.clip.source_uri == slow]
    assert reasons[jobs["slow"].job_id].startswith(
        f"scanning exceeded {OPEN_S + FACTOR * SLOW_S:g} s (MIRA_SPLIT_TIMEOUT_FACTOR); the {len(from_slow)} "
        "clips before ")
    assert from_slow and all(c.clip.end_s is not None and c.clip.end_s < SLOW_S for c in from_slow)
    assert sorted((c.clip.start_s, c.clip.end_s) for c in clips if c.clip.source_uri == good) == [(0.0, 4.0), (4.0, 8.0)]


def scan_refusal(source: str, **settings: object) -> str:
    """Why a scan of `source` could not even begin (its duration unknown until the stream ends). The exception
    is dropped here, as the stage drops it once dead-lettered: that releases the source's connection."""
    try:
        Scan(source, SplitSettings(allowed_sources="http://127.0.0.1:*", **settings))  # type: ignore[arg-type]
    except BadInput as e:
        return e.reason
    raise AssertionError(f"{source} was scanned")


def test_a_source_that_never_ends_is_cut_off_at_the_byte_budget() -> None:
    with serve_endless_ts() as endless:
        reason = scan_refusal(endless.url, max_file_bytes=100_000, decode_timeout_s=60)
        assert endless.hung_up.wait(30)  # the reader let go of the stream
    assert reason == "read over 100000 bytes of the source (MIRA_MAX_FILE_BYTES)"


def test_a_source_that_never_ends_is_cut_off_at_its_deadline() -> None:
    with serve_endless_ts() as endless:
        reason = scan_refusal(endless.url, decode_timeout_s=2)
        assert endless.hung_up.wait(30)
    assert reason == "scanning exceeded 2 s (MIRA_DECODE_TIMEOUT_S)"
