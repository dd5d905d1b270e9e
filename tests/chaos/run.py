"""One chaos run at one seed: a fresh record store and topics on the given broker, the model server with
latency and random 429s, replicas of every stage, the clips submitted at once, the monkey let loose until
the work is done (or its time is up), then everything stopped and counted. Given a three-node cluster, the
broker monkey kills and restarts its nodes too, and the run lasts at least until each kind of broker fault
has been seen and the cluster is whole again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services import stage_class
from shared import kafka
from shared.messages import DeadLetter
from shared.settings import Settings, as_env
from shared.store.records import RecordStore
from tests.apache_kafka import KafkaCluster
from tests.chaos import clips
from tests.chaos.brokers import BrokerMonkey, BrokerPlan, leader_changes
from tests.chaos.fleet import Fleet
from tests.chaos.monkey import Monkey, Plan
from tests.chaos.tally import ANSWER_WINDOW_S, DeadLetterReader, Outcome, group_states, versions_by_clip
from tests.conftest import FAST_GROUPS
from tests.fake_openai.calls import Call, repeats
from tests.fake_openai.server import FakeOpenAI
from tests.kafka_io import publish

STAGES = ("ingest", "framegrid", "hint", "caption", "sink", "recaption")
SETTLE_S = 3.0  # after the last clip is accounted for: time for a late duplicate to show itself


@dataclass(frozen=True)
class Config:
    clips: int = 300
    replicas: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 2))
    plan: Plan = field(default_factory=Plan)
    brokers: BrokerPlan = field(default_factory=BrokerPlan)  # used when run_seed is given a cluster to fault
    latency_s: float = 0.4
    throttle_share: float = 0.2
    partitions: int = 4
    chaos_s: float = 180.0  # the monkey stops after this long even if work remains
    deadline_s: float = 420.0  # clips neither recorded nor dead-lettered by then are lost
    grace_s: float = 5.0  # MIRA_SHUTDOWN_GRACE_S; a SIGTERMed replica still running 10 s later is SIGKILLed
    database_url: str | None = None  # default: SQLite under the run's MIRA_HOME
    verbose: bool = False


def replica_env(settings: Settings, fake: FakeOpenAI, cache: Path, config: Config) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(as_env(FAST_GROUPS))
    env.update(
        MIRA_HOME=str(settings.home), MIRA_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        MIRA_TOPIC_PREFIX=settings.topic_prefix, MIRA_TOPIC_PARTITIONS=str(config.partitions),
        MIRA_TOPIC_REPLICATION_FACTOR=str(settings.topic_replication_factor),
        MIRA_TOPIC_MIN_INSYNC_REPLICAS=str(settings.topic_min_insync_replicas),
        MIRA_CREATE_TOPICS="false", MIRA_DATABASE_URL=settings.database_url or "",
        MIRA_HEALTH_PORT="0", MIRA_HEALTH_HOST="127.0.0.1", MIRA_API_PORT="0", MIRA_COMMIT_INTERVAL_S="0.5",
        MIRA_SHUTDOWN_GRACE_S=str(config.grace_s), MIRA_RETRY_BASE_S="0.2", MIRA_RETRY_MAX_S="2",
        OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-chaos-key", MIRA_CAPTION_BACKOFF_BASE_S="0.2",
        MIRA_CAPTION_BACKOFF_MAX_S="2", MIRA_HINT_BASE_URL=fake.base_url, MIRA_HINT_API_KEY="sk-chaos-key",
        MIRA_GRID_TILE_BUDGET="1", MIRA_DECODE_DEVICE="cpu", MIRA_DECODE_WORKERS="1",
        MIRA_ALLOWED_SOURCES=str(cache),
    )
    return env


async def run_seed(config: Config, seed: int, bootstrap: str, work: Path, cache: Path,
                   report: bool = True, cluster: KafkaCluster | None = None) -> Outcome:
    """`cluster`: the cluster at `bootstrap`, whose nodes the broker monkey kills (three or more nodes)."""
    home = work / f"seed-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    replication, min_insync = cluster.replication if cluster else (1, 1)
    settings = Settings(home=home, kafka_bootstrap=bootstrap, topic_prefix=f"chaos{seed}-{uuid.uuid4().hex[:6]}.",
                        topic_partitions=config.partitions, topic_replication_factor=replication,
                        topic_min_insync_replicas=min_insync, database_url=config.database_url, **FAST_GROUPS)
    subs = clips.submissions(cache, config.clips, request_id=f"chaos-{seed}")
    wanted = clips.clip_ids(subs)
    await kafka.ensure_topics(settings)
    assert settings.database_url
    RecordStore.open(settings.database_url).close()  # schema in place before several replicas race to make it
    fake = FakeOpenAI(latency_s=config.latency_s, throttle_share=config.throttle_share, seed=seed,
                      retry_after_s=0.2, vary_hints=True, track_callers=True)
    fake.start()
    fleet = Fleet(replica_env(settings, fake, cache, config), home / "logs")
    monkey = Monkey(fleet, config.plan, seed,
                    busy=lambda r: any(c.caller == r.pid and not c.finished for c in fake.calls))
    brokers = BrokerMonkey(cluster, config.brokers, seed, monkey.events, monkey.began) if cluster else None
    letters = DeadLetterReader(settings)
    stuck: list[str] = []
    began = time.time()
    try:
        for stage, count in config.replicas.items():
            for _ in range(count):
                fleet.add(stage)
        await letters.start()
        await publish(settings, *subs)
        accounted = await _work(config, settings, fleet, monkey, brokers, fake, letters, wanted, began, report)
        if accounted:
            await asyncio.sleep(SETTLE_S)
        else:  # what the broker says about the groups that stopped moving
            stuck = await group_states(settings, [stage_class(stage).group_id() for stage in config.replicas])
    finally:
        fleet.stop_all(grace_s=config.grace_s + 10)
        fake.stop()
    wall = time.time() - began
    dead = await letters.drain()
    await letters.stop()
    outcome = _outcome(seed, settings, fleet, monkey, brokers, fake, wanted, dead, wall)
    outcome.notes += stuck
    return outcome


async def _work(config: Config, settings: Settings, fleet: Fleet, monkey: Monkey, brokers: BrokerMonkey | None,
                fake: FakeOpenAI, letters: DeadLetterReader, wanted: set[str], began: float, report: bool) -> bool:
    """Supervise and unleash the monkeys until every clip is recorded or dead-lettered (and every kind of
    broker fault was seen), or the deadline. The first tick comes once a replica has a model call in flight:
    work is flowing through the stages."""
    assert settings.database_url
    store = RecordStore.open(settings.database_url)
    next_tick: float | None = None
    next_look = began
    printed = 0
    try:
        while time.time() - began < config.deadline_s:
            fleet.supervise(config.grace_s + 10)
            now = time.time()
            if next_tick is None and monkey.armed():
                next_tick = now
            chaos = now - began < config.chaos_s
            if next_tick is not None and now >= next_tick and not monkey.exhausted and chaos:
                monkey.tick(f"{sum(c.finished == 0 for c in fake.calls)} model calls in flight")
                next_tick = now + config.plan.tick_s
            monkey.follow_up()
            if brokers is not None:
                if next_tick is not None:
                    brokers.arm(now)
                brokers.step(now, faults=chaos)
            if report and config.verbose:
                for event in monkey.events[printed:]:
                    print(event, flush=True)
            printed = len(monkey.events)
            if now >= next_look:
                recorded = set(await asyncio.to_thread(_recorded, store, wanted))
                dead = {d.clip_id for d in await letters.poll()}
                left = len(wanted - recorded - dead)
                if report:
                    print(f"  {now - began:5.0f}s recorded {len(recorded)}, dead-lettered {len(dead & wanted)}, "
                          f"left {left}, live replicas {len(fleet.live())}", flush=True)
                if left == 0 and (brokers is None or brokers.quiet or not chaos):
                    return True
                next_look = now + (5.0 if report else 1.0)
            await asyncio.sleep(0.25)
        return False
    finally:
        store.close()


def _keep(home: Path, calls: list[Call], monkey: Monkey, fleet: Fleet) -> None:
    """What happened, for a look afterwards: the model server's call log, the chaos events, the exits."""
    (home / "calls.jsonl").write_text("".join(json.dumps(c.as_json()) + "\n" for c in calls))
    (home / "events.txt").write_text("\n".join(monkey.events) + "\n")
    (home / "exits.txt").write_text("".join(f"{e}\n" for e in fleet.exits))


def _recorded(store: RecordStore, wanted: set[str]) -> list[str]:
    return list(versions_by_clip(store.iter_records(version="all"), wanted))


def _outcome(seed: int, settings: Settings, fleet: Fleet, monkey: Monkey, brokers: BrokerMonkey | None,
             fake: FakeOpenAI, wanted: set[str], dead: list[DeadLetter], wall: float) -> Outcome:
    assert settings.database_url
    with RecordStore.open(settings.database_url) as store:
        versions = versions_by_clip(store.iter_records(version="all"), wanted)
    dead_clips = {d.clip_id for d in dead}
    calls = list(fake.calls)
    _keep(settings.home, calls, monkey, fleet)

    def died(call: Call) -> bool:
        """SIGKILLed while the model answered (a killed process takes a moment to close its sockets, so the
        server may still see the answer go out) or before it could have written the answer down."""
        return fleet.killed_between(call.caller, call.started, call.finished + ANSWER_WINDOW_S)

    avoidable, unavoidable = repeats(calls, died)
    notes = [f"dead letter from {d.stage}: {d.reason}" for d in dead][:10]
    notes += [f"{e.name} (pid {e.pid}) {e.how}, exit {e.code}" for e in fleet.bad_exits()]
    notes += [f"{e.name} (pid {e.pid}) stopped by SIGTERM with exit {e.code}" for e in fleet.unclean_stops()]
    return Outcome(
        seed=seed, clips=len(wanted), recorded_once=sum(1 for n in versions.values() if n == 1),
        lost=len(wanted - set(versions) - dead_clips), extra_versions=sum(n - 1 for n in versions.values()),
        caption_calls=sum(c.paid and c.kind == "caption" for c in calls),
        hint_calls=sum(c.paid and c.kind == "hint" for c in calls),
        throttled=sum(c.status == 429 for c in calls), repaid_returned=avoidable, repaid_killed=unavoidable,
        dead_letters=len(dead), kills=monkey.counts["kill"], stops=monkey.counts["term"],
        scaled=(monkey.counts["up"], monkey.counts["down"]), bad_exits=len(fleet.bad_exits()), wall_s=wall,
        notes=notes, broker_kills=brokers.kills if brokers else 0,
        leader_changes=leader_changes(n.log for n in brokers.cluster.members) if brokers else 0,
        without_quorum_s=brokers.without_quorum_s if brokers else 0.0,
    )
