"""Broker faults on a three-node KRaft cluster, beside the replica monkey: at the seed's fixed random
choices, every 20-30 s SIGKILL a broker and restart it 5-10 s later on the same log directory; once per seed
take two of the three down for 15 s (no quorum, no partition with the two in-sync replicas that
min.insync.replicas asks for), and once SIGKILL all three and restart them. The first three faults are those
three kinds in a seeded order, so a short run still sees each; single kills follow.

A fault begins only once every node has been serving for `settle_s`, so a broker still catching up is not
counted as the next fault's second victim. Time without quorum is measured here, as the time fewer than
two nodes were serving (a restarted node logs that it started only once it rejoined a quorum).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.apache_kafka import KafkaCluster

ONE, TWO, ALL = "one broker", "two brokers", "all brokers"
# What a broker logs when it takes up a partition (as its leader or a follower) at a leader epoch.
_EPOCH = re.compile(rb"(?:Leader|Follower) (\S+) (?:with topic id \S+ )?starts at leader epoch (\d+)")


@dataclass(frozen=True)
class BrokerPlan:
    every_s: tuple[float, float] = (20.0, 30.0)  # from one fault to the next
    down_s: tuple[float, float] = (5.0, 10.0)  # a killed broker is restarted this much later
    no_quorum_s: float = 15.0  # how long two of the three stay down
    settle_s: float = 5.0  # every node serving this long before the next fault


@dataclass
class BrokerMonkey:
    cluster: KafkaCluster
    plan: BrokerPlan
    seed: int
    events: list[str]  # shared with the replica monkey: one timeline per seed
    began: float
    kills: int = 0
    without_quorum_s: float = 0.0
    rng: random.Random = field(init=False)
    pending: list[str] = field(init=False)  # the kinds of fault every seed must see, in the seed's order
    restarts: dict[int, float] = field(default_factory=dict)  # node id -> when to start it again
    serving: set[int] = field(default_factory=set)  # nodes whose current start has logged that it serves
    next_at: float | None = None
    _all_up_since: float | None = None
    _last_step: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"brokers-{self.seed}")
        self.pending = [ONE, TWO, ALL]
        self.rng.shuffle(self.pending)
        self.serving = {n.node_id for n in self.cluster.members if n.started()}

    def arm(self, now: float) -> None:
        """Start the clock: the first fault comes 20-30 s after work began to flow."""
        if self.next_at is None:
            self.next_at = now + self.rng.uniform(*self.plan.every_s)

    @property
    def quiet(self) -> bool:
        """Every node serving and no fault that each seed must see still to come."""
        return not self.pending and not self.restarts and len(self.serving) == len(self.cluster.members)

    def step(self, now: float, faults: bool = True) -> None:
        """Restart what is due, keep the quorum clock, and (with `faults`) begin the next fault when due."""
        quorum = len(self.cluster.members) // 2 + 1
        self.serving = {n.node_id for n in self.cluster.members
                        if n.alive() and (n.node_id in self.serving or n.started())}
        if self._last_step is not None and len(self.serving) < quorum:
            self.without_quorum_s += now - self._last_step
        self._last_step = now
        for node_id, at in list(self.restarts.items()):
            if now >= at:
                del self.restarts[node_id]
                self.cluster.restart(node_id)
                self._note(f"start broker {node_id}")
        if self.restarts or len(self.serving) < len(self.cluster.members):
            self._all_up_since = None
            return
        self._all_up_since = self._all_up_since or now
        if faults and self.next_at is not None and now >= max(self.next_at, self._all_up_since + self.plan.settle_s):
            self._fault(now)

    def _fault(self, now: float) -> None:
        kind = self.pending.pop(0) if self.pending else ONE
        ids = [n.node_id for n in self.cluster.members]
        victims = {ONE: lambda: [self.rng.choice(ids)], TWO: lambda: self.rng.sample(ids, 2), ALL: lambda: ids}[kind]()
        down_s = self.plan.no_quorum_s if kind == TWO else self.rng.uniform(*self.plan.down_s)
        for node_id in victims:
            self.cluster.kill(node_id)
            self.serving.discard(node_id)
            self.restarts[node_id] = now + down_s
            self.kills += 1
        self._note(f"kill {kind} {sorted(victims)} for {down_s:.0f} s")
        self.next_at = now + self.rng.uniform(*self.plan.every_s)

    def _note(self, what: str) -> None:
        self.events.append(f"{time.time() - self.began:6.1f}s {what}")


def leader_changes(logs: Iterable[Path]) -> int:
    """Leader elections the brokers logged: partitions taken up at a leader epoch above the first (each
    broker logs every epoch of its partitions, so epochs are counted once per partition)."""
    epochs: set[tuple[bytes, int]] = set()
    for log in logs:
        if log.exists():
            epochs.update((m[1], int(m[2])) for m in _EPOCH.finditer(log.read_bytes()))
    return sum(1 for _partition, epoch in epochs if epoch > 0)
