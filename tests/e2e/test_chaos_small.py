"""The chaos harness (tests/chaos, `make chaos`) in small, inside `make test`: 60 clips through replicas in
separate processes, two rebalances with work in flight (a caption replica started, then stopped) and two
SIGKILLs (a caption replica, then a sink replica), at one seed. No clip may be lost, none recorded twice,
and no question paid again after its answer had been returned to a caller that lived on. It runs on the
session's Apache Kafka (one node); `make chaos` adds broker faults on three.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos.monkey import Plan
from tests.chaos.run import Config, run_seed

SMALL = Config(
    clips=60,
    replicas={"ingest": 1, "framegrid": 1, "hint": 1, "caption": 2, "sink": 2},
    plan=Plan(tick_s=2.0, ticks=2, term=False, kill_stages=("caption", "sink"), scale_stages=("caption",)),
    latency_s=0.5,
    chaos_s=150.0,
    deadline_s=200.0,  # generous: the machine may be busy; about 30 s when it is not
)


async def test_sixty_clips_survive_two_rebalances_and_two_kills(kafka_bootstrap: str, tmp_path: Path) -> None:
    outcome = await run_seed(SMALL, seed=7, bootstrap=kafka_bootstrap, work=tmp_path, cache=tmp_path / "clips",
                             report=False)
    events = (tmp_path / "seed-7" / "events.txt").read_text()
    assert (outcome.kills, outcome.scaled) == (2, (1, 1)), events  # the chaos happened as planned
    assert outcome.caption_calls >= outcome.clips, outcome
    assert outcome.lost == 0, outcome.notes
    assert outcome.extra_versions == 0
    assert outcome.recorded_once == outcome.clips
    assert outcome.repaid_returned == 0, f"questions paid again after their answer was returned; {events}"
