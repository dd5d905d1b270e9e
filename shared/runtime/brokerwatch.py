"""Whether the broker answers, reported once per check while it does not.

aiokafka logs every failed attempt of each of its clients to reach a broker: tens of lines a second for
as long as the broker is gone (a stuck replica once wrote 11 MB of them). Instead, the runtime checks the
broker itself and keeps readiness off while it does not answer: checks back off to one per MAX_CHECK_S, so
a broker that is back is found within seconds, and log lines back off further, to one per MAX_LINE_S, so a
long outage writes a few lines, not one per check. The clients' own warnings are held back meanwhile and
only counted in those lines. The first client warning while the broker seemed fine triggers a check at
once, so a lost broker is noticed within moments.

A coordinator or partition leader that moves is not an outage: those lines go to shared/runtime/clustermoves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from shared.runtime.clustermoves import ClusterMoves
from shared.runtime.lifecycle import describe

log = logging.getLogger(__name__)

FIRST_CHECK_S = 1.0  # most outages are a broker restart: look again soon
MAX_CHECK_S = 5.0  # then back off to one check per this many seconds: readiness returns within it
MAX_LINE_S = 30.0  # and to one log line per this many seconds
PROBE_TIMEOUT_S = 5.0  # a broker that takes longer than this to list its metadata counts as gone


class BrokerWatch(logging.Filter):
    def __init__(self, service: str, on_change: Callable[[], None]) -> None:
        super().__init__()
        self.service = service
        self.reachable = False  # until the first client connects
        self.held_back = 0
        self._on_change = on_change
        self._suspect = asyncio.Event()
        self._loggers: list[logging.Logger] = []
        self._moves = ClusterMoves(service)

    def filter(self, record: logging.LogRecord) -> bool:
        if (episode := self._moves.held_back(record)) is not None:
            if episode.may_be_outage and self.reachable:
                self._suspect.set()  # one broker of several, or all of them: a check tells
            return False
        if record.levelno < logging.WARNING:
            return True
        if not self.reachable:
            self.held_back += 1
            return False
        self._suspect.set()
        return True

    def install(self) -> None:
        """Attach to every aiokafka logger (a filter on a parent logger does not see its children's records)."""
        names = [n for n in logging.root.manager.loggerDict if n == "aiokafka" or n.startswith("aiokafka.")]
        self._loggers = [logging.getLogger(n) for n in ["aiokafka", *names]]
        for logger in self._loggers:
            logger.addFilter(self)

    def remove(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self)

    def connected(self) -> None:
        self._set(True)

    async def run(self, probe: Callable[[], Awaitable[object]]) -> None:
        """Check the broker whenever a client complains; while it does not answer, check with backoff."""
        while True:
            await self._suspect.wait()
            self._suspect.clear()
            error = await _check(probe)
            if error is None:
                await asyncio.sleep(FIRST_CHECK_S)  # at most one check per interval while all is well
                continue
            await self._wait_until_back(probe, error)

    async def _wait_until_back(self, probe: Callable[[], Awaitable[object]], error: str | None) -> None:
        self._set(False)
        lost_at = next_line = time.monotonic()
        check_s = line_s = FIRST_CHECK_S
        while error is not None:
            if time.monotonic() >= next_line:
                log.warning("%s: broker unreachable for %.0fs (%s; %d client errors held back); not ready, "
                            "checking again in %.0fs", self.service, time.monotonic() - lost_at, error,
                            self.held_back, check_s)
                next_line = time.monotonic() + line_s
                line_s = min(line_s * 2, MAX_LINE_S)
            await asyncio.sleep(check_s)
            check_s = min(check_s * 2, MAX_CHECK_S)
            error = await _check(probe)
        log.info("%s: broker reachable again after %.0fs", self.service, time.monotonic() - lost_at)
        self.held_back = 0
        self._suspect.clear()
        self._set(True)

    def _set(self, reachable: bool) -> None:
        if reachable != self.reachable:
            self.reachable = reachable
            self._on_change()


async def _check(probe: Callable[[], Awaitable[object]]) -> str | None:
    """None when the broker answered, else why not."""
    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
    except (TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure means "not answering"
        return describe(exc)
    return None
