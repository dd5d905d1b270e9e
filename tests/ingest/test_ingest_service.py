"""The ingest service: submissions (from the topic, the HTTP API, a watched folder) become clip jobs."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from services.ingest.handler import IngestStage
from shared.messages import ClipJob, ClipSubmission, VideoJob
from shared.settings import Settings
from shared.topics import Topic
from tests.kafka_io import publish, read_all
from tests.running import running


async def test_topic_http_and_watched_folder_all_become_clip_jobs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watched = tmp_path / "incoming"
    watched.mkdir()
    monkeypatch.setenv("MIRA_INGEST_WATCH_DIR", str(watched))
    monkeypatch.setenv("MIRA_INGEST_WATCH_INTERVAL_S", "0.2")
    monkeypatch.setenv("MIRA_API_PORT", "0")
    stage = IngestStage()
    async with running(stage, settings):
        await publish(settings, ClipSubmission(source="https://example.com/v.mp4", start_s=1, end_s=3,
                                               hint="A bird.", request_id="cli"))
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{stage.api.port}/v1/clips"
            ok = await http.post(url, json=[{"source": "s3://b/x.mp4"}, {"source": "s3://b/y.mp4", "end_s": 9}])
            body = await ok.json()
            bad_range = await http.post(url, json={"source": "s3://b/z.mp4", "start_s": 5, "end_s": 5})
            bad_field = await http.post(url, json={"src": "s3://b/z.mp4"})
            assert ok.status == 202 and len(body["clips"]) == 2
            assert bad_range.status == 422 and "empty" in (await bad_range.json())["error"]
            assert bad_field.status == 422
        (watched / "new.mp4").write_bytes(b"0" * 100)
        jobs = await read_all(settings, Topic.CLIPS, ClipJob, expect=2, timeout_s=30)  # the ranges
        videos = await read_all(settings, Topic.VIDEOS, VideoJob, expect=2, timeout_s=30)  # whole: to split
    assert {v.clip.source_uri for v in videos} == {"s3://b/x.mp4", (watched / "new.mp4").as_uri()}
    assert all(v.split == "auto" for v in videos)
    jobs += videos
    by_source = {j.clip.source_uri: j for j in jobs}
    assert set(by_source) == {"https://example.com/v.mp4", "s3://b/x.mp4", "s3://b/y.mp4",
                              (watched / "new.mp4").as_uri()}
    assert by_source["https://example.com/v.mp4"].manifest_hint == "A bird."
    assert {c["clip_id"] for c in body["clips"]} == {by_source["s3://b/x.mp4"].clip.clip_id,
                                                     by_source["s3://b/y.mp4"].clip.clip_id}
