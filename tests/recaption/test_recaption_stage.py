"""The recaption service against the real broker, store and blob store: selected clips whose grid is stored
go straight to the hint stage; a clip whose grid is gone (or a request asking for it) is rendered again."""

from __future__ import annotations

import asyncio

from services.recaption.handler import RecaptionStage
from shared import grids
from shared.blobstore import open_blobstore
from shared.grids import StoredGrid
from shared.messages import ClipJob, DeadLetter, GridInfo, GridReady, RecaptionRequest, VideoInfo
from shared.runtime.runner import Runner
from shared.settings import Settings
from shared.store import RecordStore
from shared.topics import Topic
from tests.kafka_io import publish, read_all
from tests.store.factories import result


async def stored_grid(settings: Settings) -> str:
    blobs = open_blobstore(settings.blob_url or "")
    image = await blobs.put(b"\xff\xd8 a grid \xff\xd9")
    info = GridInfo(uri=image.uri, sha256=image.sha256, width=2048, height=576, frame_times_s=[0.5] * 8,
                    sample_mode="auto", image_tokens=1445)
    await grids.save(blobs, StoredGrid(video=VideoInfo(fps=24, width=1280, height=720, duration_s=4), grid=info))
    return image.sha256


async def test_stored_grids_are_reused_and_missing_ones_rendered_again(settings: Settings) -> None:
    sha = await stored_grid(settings)
    with RecordStore.open(settings.database_url or "") as store:
        store.record(result("kept", "j1", grid_sha256=sha, hint="a fox"))
        store.record(result("lost", "j2", grid_sha256="cd" * 32))  # its grid is not in the blob store
        store.record(result("failed", "j3", status="failed", grid_sha256=sha))
    await publish(settings,
                  RecaptionRequest(request_id="new-model", status_in=["success"], model="gpt-4.1"),
                  RecaptionRequest(request_id="again", clip_ids=["kept"], rerender_grids=True),
                  RecaptionRequest(request_id="nothing"))
    runner = Runner(RecaptionStage(), settings)
    task = asyncio.create_task(runner.run())
    reused = await read_all(settings, Topic.GRIDS, GridReady, expect=1)
    rendered = await read_all(settings, Topic.CLIPS, ClipJob, expect=2)
    letters = await read_all(settings, Topic.DEAD_LETTERS, DeadLetter, expect=1)
    runner.request_stop()
    assert await task == 0
    assert [(g.clip.clip_id, g.grid.sha256, g.options.model, g.manifest_hint) for g in reused] == [
        ("kept", sha, "gpt-4.1", "a fox")]  # a manifest hint travels with the clip
    assert reused[0].video.width == 1280 and reused[0].request_id == "new-model"
    assert sorted((j.clip.clip_id, j.request_id) for j in rendered) == [("kept", "again"), ("lost", "new-model")]
    assert len({j.job_id for j in [*reused, *rendered]}) == 3  # a job id per request and clip
    assert letters[0].stage == "recaption" and "selects nothing" in letters[0].reason
