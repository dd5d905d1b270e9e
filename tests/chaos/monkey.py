"""What goes wrong, and when: at a fixed random seed, every tick SIGKILLs one replica, SIGTERMs another
and scales a stage up or down by one extra replica, so consumer groups rebalance with work in flight.

Odd ticks start an extra replica, even ticks stop one. An extra is stopped only once it has joined its
group (it was given partitions, or has lived `SETTLED_S`), so every scale-up and scale-down is a rebalance;
until then the scale-down waits. Victims are chosen among replicas with a model call in flight when there
are any, so kills land on paid work (the stage itself is drawn at random unless the plan names it), and the
first tick waits for such a replica of the first stage to kill (of any stage when victims are random).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.fleet import Fleet, Replica

SETTLED_S = 30.0  # an extra this old is stopped even if it never showed that it joined (a very busy machine)


@dataclass(frozen=True)
class Plan:
    tick_s: float = 4.0
    ticks: int | None = None  # None: tick until the work is done or the chaos time is over
    kill: bool = True
    term: bool = True
    scale: bool = True
    kill_stages: tuple[str, ...] = ()  # stages to SIGKILL in turn; empty: any stage at random
    scale_stages: tuple[str, ...] = ()  # stages to scale in turn; empty: any stage at random
    max_extras: int = 3  # extra replicas alive at once, over all stages


def _never(replica: Replica) -> bool:
    return False


@dataclass
class Monkey:
    fleet: Fleet
    plan: Plan
    seed: int
    busy: Callable[[Replica], bool] = _never  # has a model call in flight
    rng: random.Random = field(init=False)
    ticks: int = 0
    down_pending: bool = False
    events: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"kill": 0, "term": 0, "up": 0, "down": 0})
    began: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def armed(self) -> bool:
        """Whether there is work in flight worth disrupting: the first tick waits for this."""
        stage = self.plan.kill_stages[0] if self.plan.kill_stages else None
        return any(self.busy(r) for r in self.fleet.live(stage))

    @property
    def exhausted(self) -> bool:
        """No ticks left in the plan (a scale-down may still be pending)."""
        return self.plan.ticks is not None and self.ticks >= self.plan.ticks

    def tick(self, context: str = "") -> None:
        """One round of trouble; `context` (what was in flight) goes into the event log."""
        self.ticks += 1
        if context:
            self.events.append(f"{time.time() - self.began:6.1f}s tick {self.ticks}: {context}")
        if self.plan.kill:
            victim = self._pick(self._turn(self.plan.kill_stages))
            if victim is not None:
                self._note("kill", victim)
                self.fleet.kill(victim)
        if self.plan.term:
            victim = self._pick(None)
            if victim is not None:
                self._note("term", victim)
                self.fleet.terminate(victim)
        if self.plan.scale:
            if self.ticks % 2:
                self._scale_up()
            else:
                self.down_pending = True
        self.follow_up()

    def _scale_up(self) -> None:
        extras = {r.stage for r in self.fleet.replicas if r.extra and not r.retired}
        if len(extras) >= self.plan.max_extras:
            return
        stages = sorted({r.stage for r in self.fleet.replicas} - extras)
        stage = self._turn(self.plan.scale_stages) or (self.rng.choice(stages) if stages else None)
        if stage is not None:
            self._note("up", self.fleet.add(stage, extra=True))

    def follow_up(self) -> None:
        """A scale-down waits for an extra that has joined the work; call this often."""
        if not self.down_pending:
            return
        extras = [r for r in self.fleet.live() if r.extra]
        settled = [r for r in extras if self.fleet.joined(r) or r.age() >= SETTLED_S]
        if settled or not extras:
            self.down_pending = False
        if settled:
            victim = self.rng.choice(settled)
            self._note("down", victim)
            self.fleet.terminate(victim, retire=True)

    def _turn(self, stages: tuple[str, ...]) -> str | None:
        return stages[(self.ticks - 1) % len(stages)] if stages else None

    def _pick(self, stage: str | None) -> Replica | None:
        if stage is None:  # a stage at random first: every stage gets killed, not only those calling models
            stages = sorted({r.stage for r in self.fleet.live()})
            stage = self.rng.choice(stages) if stages else None
        live = self.fleet.live(stage)
        busy = [r for r in live if self.busy(r)]
        return self.rng.choice(busy or live) if live else None

    def _note(self, what: str, replica: Replica) -> None:
        self.counts[what] += 1
        self.events.append(f"{time.time() - self.began:6.1f}s {what:4} {replica.name} (pid {replica.pid})")
