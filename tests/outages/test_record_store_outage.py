"""The record store stopped for 20 s (90 s in `make chaos`) a few seconds into a run (the tests' own PostgreSQL, stopped as a
failover stops it), two caption and two sink replicas as separate processes: every clip is recorded once,
nothing is dead-lettered, no answer is paid for twice, and `mira caption --wait` exits 0. Meanwhile the
replicas say they wait (readiness, metric) in a few log lines, not one per retry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.fake_openai.server import FakeOpenAI
from tests.outages.pipeline import OutagePipeline, Result, Seen, longer_in_chaos
from tests.outages.postgres import own_postgres


@pytest.mark.parametrize("outage_s", longer_in_chaos(20.0, 90.0))
async def test_postgresql_stopped_mid_run_costs_time_not_clips(settings: Settings, tmp_path: Path,
                                                               outage_s: float) -> None:
    with own_postgres() as pg, FakeOpenAI(latency_s=1.0) as fake:
        run = OutagePipeline(settings.model_copy(update={"database_url": pg.url}), fake, tmp_path, clip_count=30,
                             replicas={"caption": 2, "sink": 2}, env={"MIRA_CAPTION_MAX_IN_FLIGHT": "2"})
        await run.start()
        command = run.submit()
        await run.until(lambda: run.recorded() >= 3, 300, "the first clips are recorded")
        pg.stop()
        seen = Seen()
        await run.watch(("caption", "sink"), "record_store", outage_s, seen)
        pg.launch()
        result = await run.finish(command, "record_store", seen)
    assert_outage_cost_only_time(result, "record_store")
    assert "caption" in result.seen.stages  # sink notices only when it has a record to write meanwhile


def assert_outage_cost_only_time(result: Result, *dependencies: str, lines_each: int = 4) -> None:
    """`lines_each`: lines a replica may write naming each dependency (a line as an outage starts, one as it
    ends, twice over; the broker's watch adds a line per back-off step)."""
    assert result.exit_code == 0, result.summary
    assert f"recorded: {result.clips} success" in result.summary, result.summary
    assert result.dead_letters == []
    assert result.recorded_once == result.clips
    assert result.paid_twice == 0
    assert result.bad_exits == []
    assert result.seen.down == set(dependencies), "mira_dependency_up did not show each dependency down"
    for dependency in dependencies:
        assert any(re.search(rf"\b{dependency} (unavailable|unreachable)\b", reason) for reason in result.seen.unready), \
            result.seen.unready
    for replica, lines in result.outage_lines.items():
        assert len(lines) <= lines_each * len(dependencies), (replica, lines)
    assert max(result.log_lines.values()) < 150, result.log_lines
