"""Moments when a Kafka cluster moves things around, which its clients ride out by themselves: a group
coordinator that is not there (a new cluster creating __consumer_offsets on first use, a coordinator moving
with its broker's restart), partition leaders changing (a new topic electing its first leaders, a broker
going away or coming back), one broker of several not answering, and too few in-sync replicas for a while.
aiokafka logs each retry at WARNING or ERROR; the runtime replaces them with one line when an episode starts
and one when it ends, so a rolling restart of the brokers reads as two lines per service, not hundreds.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Episode:
    what: str  # "the group coordinator is not available"
    lost: re.Pattern[str]  # client lines that say it happens (held back)
    found: str | None  # the start of a client line that says it is over, if there is one
    quiet_s: float = 10.0  # without such a line: over once no lost line came for this long
    may_be_outage: bool = False  # its lines may also mean the whole cluster is gone: the broker watch checks
    since: float | None = None
    last: float = 0.0
    lines: int = 0
    service: str = field(default="", repr=False)

    def saw(self, message: str, now: float) -> bool:
        """Whether `message` is part of this episode (and so held back); starts one if needed."""
        if self.found is not None and message.startswith(self.found):
            self.end(now)
            return False
        if not self.lost.search(message):
            return False
        if self.since is not None and self.found is None and now - self.last > self.quiet_s:
            self.end(self.last)
        if self.since is None:
            self.since = now
            log.warning("%s: %s (%s); the client retries by itself", self.service, self.what, message)
        self.last, self.lines = now, self.lines + 1
        return True

    def end(self, now: float) -> None:
        if self.since is not None:
            log.info("%s: over: %s, after %.1fs (%d client lines held back)", self.service, self.what,
                     now - self.since, self.lines)
            self.since, self.lines = None, 0


def episodes(service: str) -> list[Episode]:
    return [
        Episode("the group coordinator is not available",
                re.compile(r"coordinator dead|GroupCoordinatorNotAvailable|NotCoordinator|CoordinatorLoadInProgress|"
                           r"is either not started or not valid"),
                found="Discovered coordinator", service=service),
        Episode("partition leaders are changing",
                re.compile(r"NotLeaderForPartition|NotLeaderOrFollower|LeaderNotAvailable|"
                           r"not leader for partition|UnknownTopicOrPartition"),
                found=None, service=service),
        # Clients retry each node every few hundred ms: a broker of three down for a minute was 60-120 lines a
        # second over a fleet, two of three down about 345 (make chaos on a three-node cluster).
        Episode("a broker does not answer", re.compile(r"Unable connect to |Connection at \S+ (broken|closed)"),
                found=None, service=service, may_be_outage=True),
        Episode("too few in-sync replicas to take writes", re.compile(r"NotEnoughReplicas"),
                found=None, service=service),
    ]


class ClusterMoves:
    def __init__(self, service: str) -> None:
        self._episodes = episodes(service)

    def held_back(self, record: logging.LogRecord) -> Episode | None:
        """The episode a client's warning belongs to, if any (one line at its start stands for it)."""
        message, now = record.getMessage(), time.monotonic()
        held = [e for e in self._episodes if e.saw(message, now)]
        return held[0] if held and record.levelno >= logging.WARNING else None
