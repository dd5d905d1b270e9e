"""MIRA_SPLIT and `mira caption --split/--no-split`: which whole videos are cut. Ingest routes a submission by
the flag (for one run) or MIRA_SPLIT; a time range is the caller's clip and is never cut; in `auto` the split
stage lets a video no longer than MIRA_CLIP_MAX_S go on whole, as the clip job it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.sources import routed, to_job
from services.split.handler import SplitStage
from shared.messages import ClipJob, ClipSubmission, VideoJob
from shared.settings import Settings
from shared.topics import Topic
from tests.kafka_io import publish, read_all
from tests.media.shots import Shot, make_footage
from tests.running import running
from tests.split.support import video_job

RANGES = [(None, None), (0.0, None), (None, 30.0), (5.0, 30.0)]  # whole, then a manifest row's or API ranges


@pytest.mark.parametrize("flag", [None, True, False])  # none, --split, --no-split
@pytest.mark.parametrize("mode", ["auto", "always", "off"])  # MIRA_SPLIT
@pytest.mark.parametrize(("start_s", "end_s"), RANGES)
def test_ingest_routes_whole_videos_by_the_flag_or_mira_split_and_never_a_range(
    mode: str, flag: bool | None, start_s: float | None, end_s: float | None
) -> None:
    sub = ClipSubmission(source="s3://b/raw.mp4", start_s=start_s, end_s=end_s, request_id="r", split=flag)
    job = routed(sub, to_job(sub), mode)
    effective = {True: "always", False: "off", None: mode}[flag]
    if start_s is not None or end_s is not None or effective == "off":
        assert type(job) is ClipJob
    else:
        assert isinstance(job, VideoJob) and job.split == effective
        assert job.clip == to_job(sub).clip  # the same clip: split on or not, its ids do not change


async def test_auto_cuts_only_videos_longer_than_the_clip_maximum(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, long = tmp_path / "short.mkv", tmp_path / "long.mkv"
    make_footage(short, [Shot(4.0, 1), Shot(4.0, 8)], fps=10)  # 8 s: two shots, yet whole in auto
    make_footage(long, [Shot(4.0, 15), Shot(4.0, 22), Shot(4.0, 29)], fps=10)  # 12 s: over the maximum
    for name, value in {"MIRA_ALLOWED_SOURCES": str(tmp_path), "MIRA_DECODE_DEVICE": "cpu",
                        "MIRA_CLIP_MIN_S": "2", "MIRA_CLIP_MAX_S": "10"}.items():
        monkeypatch.setenv(name, value)
    jobs = {p: video_job(str(p), split="auto") for p in (short, long)}
    always = video_job(str(short), request_id="r2", split="always")
    async with running(SplitStage(), settings):
        await publish(settings, *jobs.values())
        clips = await read_all(settings, Topic.CLIPS, ClipJob, expect=4, timeout_s=60)
        await publish(settings, always)  # the same short video with `always` (--split): cut at its shots
        clips = await read_all(settings, Topic.CLIPS, ClipJob, expect=6, timeout_s=60)
    auto, again = [c for c in clips if c.request_id == "r1"], [c for c in clips if c.request_id == "r2"]
    by_source = {p: sorted((c.clip.start_s, c.clip.end_s) for c in auto if c.clip.source_uri == str(p))
                 for p in (short, long)}
    whole = next(c for c in auto if c.clip.source_uri == str(short))
    assert whole == ClipJob(**jobs[short].model_dump(exclude={"split"}))  # on whole: the job as ingest made it
    assert by_source[short] == [(0.0, None)]
    assert by_source[long] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert sorted((c.clip.start_s, c.clip.end_s) for c in again) == [(0.0, 4.0), (4.0, 8.0)]
