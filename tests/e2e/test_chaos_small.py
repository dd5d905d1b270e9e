"""The chaos harness (tests/chaos, `make chaos`) in small, inside `make test`: 60 clips through replicas in
separate processes, two rebalances with work in flight (a caption replica started, then stopped) and two
SIGKILLs (a caption replica, then a sink replica), at one seed. No clip may be lost, none recorded twice,
and no question paid again after its answer had been returned to a caller that lived on.
"""

from __future__ import annotations

from pathlib import Path

from tests.apache_kafka import KafkaCluster, KafkaUnavailable
from tests.chaos.monkey import Plan
from tests.chaos.run import Config, run_seed
from tests.conftest import TEST_CLUSTER, broker_unusable

SMALL = Config(
    clips=60,
    replicas={"ingest": 1, "framegrid": 1, "hint": 1, "caption": 2, "sink": 2},
    plan=Plan(tick_s=2.0, ticks=2, term=False, kill_stages=("caption", "sink"), scale_stages=("caption",)),
    latency_s=0.5,
    chaos_s=150.0,
    deadline_s=200.0,  # generous: the machine may be busy; about 30 s when it is not
)


async def test_sixty_clips_survive_two_rebalances_and_two_kills(tmp_path: Path) -> None:
    # Its own Apache Kafka node: killed members leave group state behind (group names are fixed: mira-STAGE), which
    # must not reach the tests that share the session's broker.
    broker = KafkaCluster(tmp_path / "broker", nodes=1, config=TEST_CLUSTER)
    try:
        try:
            bootstrap = broker.start()
        except KafkaUnavailable as exc:
            broker_unusable(f"Apache Kafka could not be started: {exc}")
        outcome = await run_seed(SMALL, seed=7, bootstrap=bootstrap, work=tmp_path, cache=tmp_path / "clips",
                                 report=False)
    finally:
        broker.stop()
    events = (tmp_path / "seed-7" / "events.txt").read_text()
    assert (outcome.kills, outcome.scaled) == (2, (1, 1)), events  # the chaos happened as planned
    assert outcome.caption_calls >= outcome.clips, outcome
    assert outcome.lost == 0, outcome.notes
    assert outcome.extra_versions == 0
    assert outcome.recorded_once == outcome.clips
    assert outcome.repaid_returned == 0, f"questions paid again after their answer was returned; {events}"
