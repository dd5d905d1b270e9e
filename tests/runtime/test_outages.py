"""A dependency that goes away while messages flow costs time, never messages: the runtime waits the outage
out without counting attempts, pauses intake, says so on /readyz and in mira_dependency_up, logs one line as
it starts and one as it ends, and resumes by itself. Here the dependency is a folder blob store whose folder
disappears (an unmounted volume) and comes back; the failures of the other real dependencies are classified
in tests/runtime/test_outage_classification.py, and whole pipelines of processes meet real outages in
tests/outages."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from shared.blobstore import FileBlobStore
from shared.messages import ClipSubmission
from shared.runtime.outage import OBJECT_STORE
from shared.runtime.runner import Runner
from shared.runtime.stage import Stage
from shared.settings import Settings
from shared.topics import Topic
from tests.kafka_io import publish
from tests.runtime.test_runner import run_until, run_until_count, sub, wait_until


class StoringStage(Stage[ClipSubmission]):
    """Stores each message's source in the blob store (and publishes nothing)."""

    name = "storing"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission
    dependencies = (OBJECT_STORE,)

    def __init__(self, blobs: FileBlobStore) -> None:
        self.blobs = blobs
        self.tries = 0

    async def handle(self, message: ClipSubmission) -> None:
        self.tries += 1
        await self.blobs.put(message.source.encode(), suffix=".txt")


async def test_a_blob_folder_that_goes_away_pauses_the_stage_until_it_is_back(
        settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    blobs = FileBlobStore(tmp_path / "blobs")
    stage = StoringStage(blobs)
    runner = Runner(stage, settings.model_copy(update={"max_attempts": 2}))
    task = await run_until(runner, lambda: runner.health.ready)
    await publish(settings, sub("first"))
    await run_until_count(runner, "ok", 1)

    (tmp_path / "blobs").rename(tmp_path / "unmounted")
    await publish(settings, *(sub(f"during-{i}") for i in range(5)))
    await wait_until(lambda: OBJECT_STORE in runner.outages.down, task)
    held = len(runner.in_flight)
    await publish(settings, *(sub(f"later-{i}") for i in range(5)))
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{runner.health.port}"
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 503
            assert "object_store unavailable" in (await response.json())["reason"]
        metrics = await (await http.get(f"{base}/metrics")).text()
        assert 'mira_dependency_up{dependency="object_store",stage="storing"} 0.0' in metrics
        assert 'mira_dependency_up{dependency="broker",stage="storing"} 1.0' in metrics
        await asyncio.sleep(3)  # far more than MIRA_MAX_ATTEMPTS tries' worth of the usual backoff
        tries_while_down = stage.tries
        assert len(runner.in_flight) == held  # intake paused: none of the later ones was taken

        (tmp_path / "unmounted").rename(tmp_path / "blobs")
        await run_until_count(runner, "ok", 11)
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200
        metrics = await (await http.get(f"{base}/metrics")).text()
    runner.request_stop()
    assert await task == 0
    assert 'mira_dependency_up{dependency="object_store",stage="storing"} 1.0' in metrics
    assert runner.metrics.messages.labels("storing", "dead_letter")._value.get() == 0
    assert runner.metrics.retries.labels("storing")._value.get() == 0  # no attempt was counted
    assert tries_while_down <= 10  # one try per backoff step, not a storm
    lines = [r.getMessage() for r in caplog.records if "object_store" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "object_store unavailable" in lines[0] and "pausing intake" in lines[0]
    assert "object_store available again after" in lines[1]
