"""A pipeline of separate processes (two replicas of the stage whose dependency goes away), clips submitted by
`mira caption --manifest ... --wait` as a user does, a dependency taken away mid-run and brought back, and
what users and the bill see counted afterwards: the command's exit status and summary, the record store,
the dead-letter topic, the model server's call log, and how much each replica logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from shared import kafka
from shared.deadletters import read_dead_letters
from shared.settings import Settings
from shared.store.records import RecordStore
from tests.chaos import clips
from tests.chaos.fleet import ROOT, Fleet, Replica
from tests.chaos.run import Config, replica_env
from tests.chaos.tally import versions_by_clip
from tests.fake_openai.calls import repeats
from tests.fake_openai.server import FakeOpenAI

STAGES = ("ingest", "framegrid", "hint", "caption", "sink")
# Retries short enough that an outage of seconds outlasts them: what is shown is the runtime waiting it out.
QUICK_RETRIES = {"MIRA_CAPTION_MAX_RETRIES": "2", "MIRA_CAPTION_BACKOFF_MAX_S": "1", "MIRA_HINT_MAX_RETRIES": "1",
                 "MIRA_MAX_ATTEMPTS": "3"}


def longer_in_chaos(short_s: float, long_s: float) -> list[float]:
    """Outage lengths to test: the short one in `make test`, the long one too where MIRA_LONG_OUTAGES is set
    (`make chaos`), since it would push the suite past its time."""
    return [short_s, long_s] if os.environ.get("MIRA_LONG_OUTAGES") else [short_s]


@dataclass
class Seen:
    """What a replica's /readyz and /metrics said while the dependency was away."""

    unready: list[str] = field(default_factory=list)  # the reasons /readyz gave
    down: set[str] = field(default_factory=set)  # the dependencies mira_dependency_up showed at 0
    stages: set[str] = field(default_factory=set)  # the stages whose replicas said so


@dataclass
class Result:
    exit_code: int
    summary: str
    clips: int
    recorded_once: int
    dead_letters: list[str]
    paid_twice: int
    log_lines: dict[str, int]  # replica -> lines logged
    outage_lines: dict[str, list[str]]  # replica -> its lines naming the dependency
    seen: Seen
    bad_exits: list[str]  # replicas that crashed, or ignored a stop, meanwhile


class OutagePipeline:
    def __init__(self, settings: Settings, fake: FakeOpenAI, work: Path, clip_count: int,
                 replicas: dict[str, int], env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.fake = fake
        self.work = work
        self.cache = work / "clips"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.subs = clips.submissions(self.cache, clip_count, request_id="outage")
        base = replica_env(settings, fake, self.cache, Config(partitions=settings.topic_partitions))
        self.env = {**base, **QUICK_RETRIES, **(env or {})}
        self.fleet = Fleet(self.env, work / "logs")
        self.replicas = replicas

    async def start(self) -> None:
        await kafka.ensure_topics(self.settings)
        assert self.settings.database_url
        await asyncio.to_thread(lambda: RecordStore.open(self.settings.database_url or "").close())
        for stage in STAGES:
            for _ in range(self.replicas.get(stage, 1)):
                self.fleet.add(stage)
        # Generous: seven processes start at once on a machine that may be busy.
        await self.until(lambda: all(self.fleet.joined(r) for r in self.fleet.replicas), 300, "every replica joined")

    def submit(self) -> subprocess.Popen[str]:
        """`mira caption --manifest clips.jsonl --wait` on this pipeline, in the background."""
        manifest = self.work / "clips.jsonl"
        manifest.write_text("".join(json.dumps({"source": s.source, "start_s": s.start_s, "end_s": s.end_s}) + "\n"
                                    for s in self.subs))
        env = {**self.env, "MIRA_LOG_LEVEL": "WARNING"}
        return subprocess.Popen([sys.executable, "-m", "cli.main", "caption", "--manifest", str(manifest), "--wait"],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def recorded(self) -> int:
        assert self.settings.database_url
        with RecordStore.open(self.settings.database_url) as store:
            return sum(1 for _ in store.iter_records(version="all"))

    async def until(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting until {what}; logs in {self.fleet.logs}"
            self.fleet.supervise(grace_s=15)
            await asyncio.sleep(0.2)

    async def watch(self, stages: tuple[str, ...], dependencies: str, seconds: float, seen: Seen) -> None:
        """Look at the stages' replicas' /readyz and /metrics for `seconds` (the outage); `dependencies`: a
        regular expression of the names to look for."""
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                self.fleet.supervise(grace_s=15)
                for replica in [r for stage in stages for r in self.fleet.live(stage)]:
                    metric = re.compile(rf'mira_dependency_up{{dependency="({dependencies})",stage="{replica.stage}"}} 0.0')
                    port = self.fleet.health_port(replica)
                    if port is None:
                        continue
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            if response.status == 503:
                                seen.unready.append((await response.json()).get("reason", ""))
                                seen.stages.add(replica.stage)
                        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                            for found in metric.finditer(await response.text()):
                                seen.down.add(found[1])
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                await asyncio.sleep(0.5)

    async def ready_again(self, stages: tuple[str, ...], timeout_s: float = 180) -> dict[str, float]:
        """Seconds until each replica of `stages` answered /readyz with 200 (polled from now)."""
        began = time.monotonic()
        ready: dict[str, float] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending := [r for stage in stages for r in self.fleet.live(stage) if r.name not in ready]:
                assert time.monotonic() - began < timeout_s, f"not ready again: {[r.name for r in pending]}"
                self.fleet.supervise(grace_s=15)
                for replica in pending:
                    port = self.fleet.health_port(replica)
                    try:
                        if port is not None:
                            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                                if response.status == 200:
                                    ready[replica.name] = time.monotonic() - began
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                await asyncio.sleep(0.2)
        return ready

    def log_lines(self) -> dict[str, int]:
        """Lines each replica has logged so far."""
        return {r.name: len(self.log_text(r)) for r in self.fleet.replicas}

    def log_text(self, replica: Replica) -> list[str]:
        return (self.fleet.logs / f"{replica.name}.log").read_text(errors="replace").splitlines()

    async def finish(self, command: subprocess.Popen[str], dependencies: str, seen: Seen,
                     timeout_s: float = 240) -> Result:
        try:
            await self.until(lambda: command.poll() is not None, timeout_s, "mira caption --wait returned")
            summary = command.stdout.read() if command.stdout else ""
        finally:
            if command.poll() is None:
                command.kill()
            self.fleet.stop_all(grace_s=15)
        wanted = clips.clip_ids(self.subs)
        assert self.settings.database_url
        with RecordStore.open(self.settings.database_url) as store:
            versions = versions_by_clip(store.iter_records(version="all"), wanted)
        letters = await read_dead_letters(self.settings, timeout_s=5)
        naming = {r.name: [line for line in self.log_text(r) if re.search(rf"\b({dependencies})\b", line)]
                  for r in self.fleet.replicas}
        avoidable, _ = repeats(self.fake.calls)
        return Result(exit_code=command.returncode, summary=summary, clips=len(wanted),
                      recorded_once=sum(1 for n in versions.values() if n == 1),
                      dead_letters=[f"{d.stage}: {d.reason}" for d in letters], paid_twice=avoidable,
                      log_lines=self.log_lines(), outage_lines=naming, seen=seen,
                      bad_exits=[f"{e.name} ({e.how}, exit {e.code})" for e in self.fleet.bad_exits()])
