"""The broker stopped for 30 s mid-run (an Apache Kafka node of the test's own, SIGKILLed as a crashed pod is,
then started again on the same log directory and port), two caption and two sink replicas as separate
processes: every clip is recorded once, nothing is dead-lettered, nothing paid twice, `mira caption --wait`
exits 0, no replica crashes, the replicas are ready again within seconds of the broker, and they say they
wait (readiness, metric) in a few lines each, not in the client's error per connection attempt (thousands)."""

from __future__ import annotations

import time
from pathlib import Path

from shared.settings import Settings
from tests.apache_kafka import KafkaCluster
from tests.fake_openai.server import FakeOpenAI
from tests.outages.pipeline import OutagePipeline, Seen
from tests.outages.test_record_store_outage import assert_outage_cost_only_time

OUTAGE_S = 30.0
STAGES = ("caption", "sink")


async def test_broker_stopped_for_30s_mid_run_costs_time_not_clips(own_broker: KafkaCluster, own_settings: Settings,
                                                                   tmp_path: Path) -> None:
    own_broker.start()
    with FakeOpenAI(latency_s=1.0) as fake:
        run = OutagePipeline(own_settings, fake, tmp_path, clip_count=30, replicas=dict.fromkeys(STAGES, 2),
                             env={"MIRA_CAPTION_MAX_IN_FLIGHT": "2"})
        await run.start()
        command = run.submit()
        await run.until(lambda: run.recorded() >= 3, 300, "the first clips are recorded")
        before, recorded_before = run.log_lines(), run.recorded()
        own_broker.kill(1)
        seen = Seen()
        await run.watch(STAGES, "broker", OUTAGE_S, seen)
        restarted = time.monotonic()
        own_broker.start()  # the same log directory and port
        restart_s = time.monotonic() - restarted
        during = {name: n - before.get(name, 0) for name, n in run.log_lines().items()}
        resumed = await run.ready_again(STAGES)
        result = await run.finish(command, "broker", seen)
    print(f"recorded before the stop: {recorded_before}; the broker took {restart_s:.1f}s to start again; replicas "
          f"ready again after: {resumed}; lines logged from the stop until the broker was back: {during}")
    assert recorded_before < result.clips  # clips were in flight when the broker went
    # Per replica: the watch's lines at 0, 1, 3, 7, 17, 37 s and as it ends; a publish's outage, two or four more.
    assert_outage_cost_only_time(result, "broker", lines_each=12)
    assert max(resumed.values()) < 20, resumed  # the watch checks every 5 s (before: up to 30 s)
    # Mostly the client's burst as the broker goes, before the watch holds its errors back (2,000+ a replica).
    assert sum(during.values()) < 200, during
