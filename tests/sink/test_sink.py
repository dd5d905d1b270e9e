"""The sink service on the real broker and store (SQLite and PostgreSQL): results that arrive together are
recorded in one transaction as gapless versions, redeliveries keep their version, and a result the database
refuses fails alone while the rest of its batch is recorded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from services.sink.handler import SinkStage
from shared.messages import CaptionRecord, DeadLetter
from shared.settings import Settings
from shared.store import RecordStore
from shared.topics import Topic
from tests.kafka_io import publish, read_all
from tests.running import running
from tests.store.databases import database_url
from tests.store.factories import result


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    with database_url(request.param, tmp_path) as url:
        yield settings.model_copy(update={"database_url": url})


async def test_results_arriving_together_become_gapless_versions_in_few_transactions(
    store_settings: Settings,
) -> None:
    first = [result(f"clip-{i}", f"job-{i}-a") for i in range(30)]
    second = [result(f"clip-{i}", f"job-{i}-b", model="other") for i in range(30)]
    again = first[:5]  # redelivered: recorded once, published again with the version they got
    await publish(store_settings, *first, *second, *again)
    stage = SinkStage()
    commits: list[int] = []
    async with running(stage, store_settings):
        event.listen(stage.store.engine, "commit", lambda _conn: commits.append(1))
        out = await read_all(store_settings, Topic.RECORDS, CaptionRecord, expect=65)
    versions: dict[str, set[int]] = defaultdict(set)
    by_job: dict[str, set[int]] = defaultdict(set)
    for record in out:
        versions[record.clip_id].add(record.version)
        by_job[record.job_id].add(record.version)
    assert len(out) == 65 and all(v == {1, 2} for v in versions.values()) and len(versions) == 30
    assert all(len(v) == 1 for v in by_job.values()) and len(by_job) == 60
    assert {by_job[f"job-{i}-a"].pop() for i in range(30)} == {1}  # each partition keeps its order
    with RecordStore.open(store_settings.database_url or "") as store:
        assert store.totals().versions == 60
    assert len(commits) <= 65 // 4  # what arrived together was written together


@pytest.mark.postgres
async def test_a_result_the_database_refuses_fails_alone(settings: Settings, tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        pg = settings.model_copy(update={"database_url": url, "max_attempts": 2})
        good = [result(f"clip-{i}", f"job-{i}") for i in range(12)]
        refused = result("clip-x", "job-x", model="m" * 300)  # longer than the model column holds
        await publish(pg, *good[:6], refused, *good[6:])
        async with running(SinkStage(), pg):
            out = await read_all(pg, Topic.RECORDS, CaptionRecord, expect=12)
            letters = await read_all(pg, Topic.DEAD_LETTERS, DeadLetter, expect=1)
    assert sorted(r.job_id for r in out) == sorted(r.job_id for r in good)
    assert [(d.stage, d.job_id) for d in letters] == [("sink", "job-x")]
