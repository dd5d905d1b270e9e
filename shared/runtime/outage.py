"""Whose fault a failure is, and what a stage does while a dependency is down.

A dead letter means the input is bad. A dependency that does not answer (the record store, the object store,
a model endpoint, the broker) is not the message's fault: `dependency_down` names the dependency a failure
says is down, in this one place for every stage, and `Outages` makes the stage wait it out:

- the message is retried for as long as the outage lasts, without counting against MIRA_MAX_ATTEMPTS; only
  one message at a time tries again (capped exponential backoff with jitter), the others wait for its result,
  so a long outage costs a try per backoff interval, not a storm of them;
- while a dependency is down the consume loop takes no new messages (partitions paused, still polling),
  /readyz says not ready and why, `mira_dependency_up{dependency=...}` is 0, and one line is logged when
  the outage starts and one when it ends, with its length;
- a message that keeps failing with an outage's error although the dependency came back in between (it
  answered other messages) does count an attempt: a poison message that merely looks like an outage is still
  dead-lettered after MIRA_MAX_ATTEMPTS such rounds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from shared.runtime.errors import Unavailable

log = logging.getLogger(__name__)

RECORD_STORE = "record_store"
OBJECT_STORE = "object_store"
HINT_ENDPOINT = "hint_endpoint"
CAPTION_ENDPOINT = "caption_endpoint"
MODEL_ENDPOINT = "model_endpoint"  # an OpenAI-compatible endpoint a stage did not name more precisely
BROKER = "broker"

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0  # one try per this many seconds at most (and no log line) during a long outage, so a
# dependency that is back is found within it
_S3_BUSY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeoutException",
                  "Throttling", "ThrottlingException", "RequestLimitExceeded", "503", "500", "502", "504"}
_SQLITE_BUSY = ("database is locked", "database is busy", "disk i/o error", "unable to open database")


def dependency_down(exc: BaseException) -> str | None:
    """The dependency `exc` says is unavailable (connection refused or reset, timeouts, DNS, 5xx, a database
    shutting down or refusing a serialization, SQLite busy, a broker or partition leader not answering), or
    None when the failure may be the input's (which the caller retries and dead-letters as before)."""
    for seen in _chain(exc):
        if isinstance(seen, Unavailable):
            return seen.dependency
        found = _database(seen) or _object_store(seen) or _model_endpoint(seen) or _broker(seen)
        if found:
            return found
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _database(exc: BaseException) -> str | None:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None:
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return RECORD_STORE
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError)):
            return RECORD_STORE  # PostgreSQL's connection, admin-shutdown and serialization errors; SQLite busy
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return RECORD_STORE
    if isinstance(exc, sqlite3.OperationalError) and any(s in str(exc).lower() for s in _SQLITE_BUSY):
        return RECORD_STORE
    store = sys.modules.get("shared.store.engine")
    if store is not None and isinstance(exc, store.StoreError):
        return RECORD_STORE
    return None


def _object_store(exc: BaseException) -> str | None:
    botocore = sys.modules.get("botocore.exceptions")  # never imported by file-only deployments
    if botocore is None:
        return None
    if isinstance(exc, (botocore.ConnectionError, botocore.HTTPClientError)):
        return OBJECT_STORE  # endpoint unreachable, connect/read timeouts, connection closed or reset
    if isinstance(exc, botocore.ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500 or exc.response.get("Error", {}).get("Code") in _S3_BUSY_CODES:
            return OBJECT_STORE
    return None


def _model_endpoint(exc: BaseException) -> str | None:
    openai = sys.modules.get("openai")
    if openai is None:
        return None
    if isinstance(exc, openai.APIConnectionError):  # refused, reset, DNS, TLS handshake, timeouts
        return MODEL_ENDPOINT
    if isinstance(exc, openai.APIStatusError) and (exc.status_code >= 500 or exc.status_code in (408, 429)):
        return MODEL_ENDPOINT
    return None


def _broker(exc: BaseException) -> str | None:
    errors = sys.modules.get("aiokafka.errors")
    if errors is None:
        return None
    if isinstance(exc, errors.KafkaError) and (exc.retriable or isinstance(exc, errors.KafkaTimeoutError)):
        return BROKER  # not reachable, request timed out, not enough replicas, leader or coordinator moved
    return None


def brief(reason: str, limit: int = 240) -> str:
    """A reason short enough for one log line (drivers add paragraphs of advice and links)."""
    reason = reason.split(" (Background on this error")[0].split(" Is the server running")[0]
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def retry_delay(tries: int) -> float:
    """Capped exponential backoff with jitter, so replicas do not come back in lockstep."""
    ceiling = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, tries - 1))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class _Dependency:
    name: str
    up: bool = True
    since: float = 0.0  # when the current outage began
    reason: str = ""
    comebacks: int = 0  # outages ended so far: a message failing again after one does count an attempt
    tries: int = 0  # tries during the current outage
    waiting: int = 0  # messages waiting it out
    back: asyncio.Event = field(default_factory=asyncio.Event)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one message at a time tries again


class Outages:
    """The dependencies of one service and whether each answers (see the module docstring)."""

    def __init__(self, service: str, on_change: Callable[[], None]) -> None:
        self.service = service
        self._on_change = on_change  # readiness and the metric follow every change
        self._deps: dict[str, _Dependency] = {}

    def declare(self, *names: str) -> None:
        """Dependencies shown as up in the metric before anything failed."""
        for name in names:
            self._get(name)

    @property
    def names(self) -> list[str]:
        return list(self._deps)

    @property
    def down(self) -> list[str]:
        return [d.name for d in self._deps.values() if not d.up]

    def reason(self) -> str | None:
        """Why the service is not ready, or None while every dependency answers."""
        now = time.monotonic()
        parts = [f"{d.name} unavailable for {now - d.since:.0f}s ({brief(d.reason)})" for d in self._deps.values()
                 if not d.up]
        return "; ".join(parts) or None

    def comebacks(self, name: str) -> int:
        return self._get(name).comebacks

    def lost(self, name: str, reason: str) -> None:
        """`name` stopped answering (no-op while it is already known to be down)."""
        dep = self._get(name)
        if not dep.up:
            return
        dep.up, dep.since, dep.reason, dep.tries = False, time.monotonic(), reason, 0
        dep.back.clear()
        log.warning("%s: %s unavailable (%s); pausing intake and retrying until it answers", self.service,
                    name, brief(reason))
        self._on_change()

    def answered(self, name: str) -> None:
        """`name` answered again (no-op while it is up)."""
        dep = self._deps.get(name)
        if dep is None or dep.up:
            return
        dep.up = True
        dep.comebacks += 1
        dep.back.set()
        log.warning("%s: %s available again after %.1fs of outage (%d tries); resuming", self.service, name,
                    time.monotonic() - dep.since, dep.tries)
        self._on_change()

    def enter(self, name: str) -> None:
        """A message starts waiting `name`'s outage out (until `leave`)."""
        self._get(name).waiting += 1

    def leave(self, name: str) -> None:
        """A message stopped waiting for `name`: it succeeded, gave up or was cancelled (a rebalance, a stop).
        With none left waiting the outage is no longer known to last: intake resumes, and the next message
        that fails on it starts a new one."""
        dep = self._get(name)
        dep.waiting -= 1
        if dep.waiting == 0 and not dep.up:
            dep.up = True
            dep.back.set()
            log.info("%s: no message waits for %s any more; resuming intake to try it again", self.service, name)
            self._on_change()

    async def wait_turn(self, name: str, reason: str) -> None:
        """Mark `name` down and return when the caller may try again: once it answered someone else, or when
        it is this caller's turn to try after the backoff (one caller at a time)."""
        self.lost(name, reason)
        dep = self._get(name)
        async with dep.turn:
            if dep.up:
                return
            dep.tries += 1
            try:
                await asyncio.wait_for(dep.back.wait(), retry_delay(dep.tries))
            except TimeoutError:
                pass

    def _get(self, name: str) -> _Dependency:
        dep = self._deps.get(name)
        if dep is None:
            dep = self._deps[name] = _Dependency(name)
            self._on_change()
        return dep
