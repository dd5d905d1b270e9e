"""MIRA_ALLOWED_SOURCES: files outside the allowed roots (symlinks resolved), buckets or prefixes not listed
and internal addresses are refused by the API (4xx), dead-lettered from the topic, and refused again by
framegrid for a forged job; the refusal reads the same whether such a file exists or not. What each kind of
entry admits, and a bad entry stopping start-up with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cli.checks import ConfigError, check
from shared.messages import ClipSubmission, DeadLetter, VideoJob
from shared.runtime.errors import BadInput
from shared.settings import Settings
from shared.sources.policy import REFUSED, SourcePolicy, SourceRefused
from shared.topics import Topic
from tests.framegrid.conftest import s3, s3_server  # noqa: F401 - the S3-compatible test server
from tests.framegrid.support import Videos, render, shown_indices
from tests.kafka_io import publish, read_all
from tests.media.videos import make_video
from tests.security.ingest_service import bearer, running_ingest


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """An allowed root holding a video and a symlink out of it; a real video and a missing one outside."""
    root = tmp_path / "videos"
    inside = make_video(root / "inside.mp4", seconds=2, fps=12)
    outside = make_video(tmp_path / "private" / "outside.mp4", seconds=2, fps=12)
    (root / "escape.mp4").symlink_to(outside)
    return {"root": root, "inside": inside, "outside": outside, "link": root / "escape.mp4",
            "missing": tmp_path / "private" / "missing.mp4"}


def outside_sources(tree: dict[str, Path]) -> list[str]:
    return ["/etc/passwd", str(tree["outside"]), str(tree["missing"]), str(tree["link"]),
            f"file://{tree['root']}/../private/outside.mp4", "s3://someone-elses-bucket/key.mp4",
            "s3://videos/elsewhere/clip.mp4", "http://169.254.169.254/latest/meta-data/iam/",
            "http://127.0.0.1:9/internal.mp4"]


async def test_ingest_refuses_sources_outside_the_policy_on_the_api_and_the_topic(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tree: dict[str, Path]
) -> None:
    refused = outside_sources(tree)
    policy = f"{tree['root']},s3://videos/cams"
    async with running_ingest(settings, monkeypatch, allowed_sources=policy) as ingest, \
            aiohttp.ClientSession() as http:
        answers = [await http.post(ingest.url, json={"source": s}, headers=bearer()) for s in refused]
        bodies = [await a.json() for a in answers]
        accepted = await http.post(ingest.url, json=[{"source": str(tree["inside"])},
                                                     {"source": "s3://videos/cams/a.mp4"}], headers=bearer())
        assert [a.status for a in answers] == [422] * len(refused)
        assert accepted.status == 202
        await publish(settings, *[ClipSubmission(source=s, request_id="forged") for s in refused])
        letters = await read_all(settings, Topic.DEAD_LETTERS, DeadLetter, expect=len(refused))
        jobs = await read_all(settings, Topic.VIDEOS, VideoJob, expect=2)  # whole videos: to split
    assert all(b["error"].startswith(REFUSED) for b in bodies), bodies
    assert all(d.reason.startswith(REFUSED) for d in letters), [d.reason for d in letters]
    # Local files: one answer whether the file exists, is missing or hides behind a symlink.
    assert {b["error"] for b in bodies[:5]} == {REFUSED}
    assert sorted(j.clip.source_uri for j in jobs) == sorted([tree["inside"].as_uri(), "s3://videos/cams/a.mp4"])


def test_framegrid_refuses_a_forged_job_for_a_local_file_outside_the_roots(tree: dict[str, Path]) -> None:
    allowed = str(tree["root"])
    reasons = []
    for source in outside_sources(tree)[:5]:
        with pytest.raises(BadInput) as caught:
            render(source, allowed_sources=allowed)
        reasons.append(caught.value.reason)
    assert reasons == [REFUSED] * 5
    assert len(shown_indices(render(tree["inside"], allowed_sources=allowed))) == 8


def test_framegrid_reads_only_listed_buckets_and_prefixes(s3: Any, videos: Videos) -> None:  # noqa: F811
    video = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    for key in ("cams/plain.mp4", "elsewhere/plain.mp4"):
        s3.put_object(Bucket="videos", Key=key, Body=video.read_bytes())
    s3.put_object(Bucket="grids", Key="cams/plain.mp4", Body=video.read_bytes())
    allowed = "s3://videos/cams"
    for source in ("s3://videos/elsewhere/plain.mp4", "s3://videos/elsewhere/missing.mp4",
                   "s3://grids/cams/plain.mp4", "s3://videos/cams/../elsewhere/plain.mp4"):
        with pytest.raises(BadInput) as caught:
            render(source, allowed_sources=allowed)
        assert caught.value.reason == REFUSED, source
    assert len(shown_indices(render("s3://videos/cams/plain.mp4", allowed_sources=allowed))) == 8


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    return Videos(tmp_path_factory.mktemp("policy-videos"))


@pytest.mark.parametrize(("policy", "source", "allowed"), [
    (None, "/etc/hosts", True),  # unset: a workstation reads what its user points at...
    (None, "s3://any-bucket/x.mp4", True),
    (None, "https://videos.example.com/a.mp4", True),
    (None, "http://10.1.2.3/a.mp4", False),  # ...but never a private or loopback address
    (None, "http://localhost:8000/a.mp4", False),
    (None, "ftp://example.com/a.mp4", False),
    ("/data/videos", "/data/videos/a/b.mp4", True),
    ("/data/videos", "/data/videos2/b.mp4", False),  # a sibling sharing the prefix is outside
    ("/data/videos", "https://videos.example.com/a.mp4", True),  # no URL pattern: public http(s) stays open
    ("/data/videos", "s3://any-bucket/x.mp4", False),
    ("https://*.example.com", "https://cdn.example.com/a.mp4", True),
    ("https://*.example.com", "https://example.com/a.mp4", False),
    ("https://*.example.com", "http://cdn.example.com/a.mp4", False),
    ("https://*.example.com", "https://cdn.example.com:8443/a.mp4", False),
    ("https://*.example.com", "https://cdn.example.com.evil.net/a.mp4", False),
    ("https://*.example.com", "/data/videos/a.mp4", False),
    ("http://minio.internal:9000/videos", "http://minio.internal:9000/videos/a.mp4", True),
    ("http://minio.internal:9000/videos", "http://minio.internal:9000/videos/../keys/a", False),
    ("http://minio.internal:9000/videos", "http://minio.internal:9000/other/a.mp4", False),
    ("http://10.1.2.3:9000", "http://10.1.2.3:9000/a.mp4", True),  # named exactly: a private address is fine
    ("http://*:*", "http://10.1.2.3:9000/a.mp4", False),
])
def test_what_the_policy_admits(policy: str | None, source: str, allowed: bool) -> None:
    try:
        SourcePolicy.parse(policy).check(source)
    except SourceRefused:
        assert not allowed
    else:
        assert allowed


@pytest.mark.parametrize("value", ["ftp://example.com/videos", "videos/relative", "https://*evil*.com", "s3://"])
def test_a_bad_entry_stops_start_up_with_one_line_naming_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRA_ALLOWED_SOURCES", value)
    with pytest.raises(ConfigError) as caught:
        check(("framegrid",))
    assert str(caught.value).startswith(f"bad setting MIRA_ALLOWED_SOURCES={value!r}: ")
    assert "\n" not in str(caught.value)
