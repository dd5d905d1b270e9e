"""The loop that feeds a stage from its consumer group: poll, start each message as its own task, commit
what is safely done, and hand partitions back cleanly in a rebalance.

- While the in-flight limit is full, or a dependency is down (shared.runtime.outage), the loop keeps polling
  with every partition paused: a member that stops polling for max_poll_interval_ms is evicted and another
  one starts the same work. With a dependency down and nothing in flight, one message is let in to find
  out whether it is back.
- On revoke (aiokafka revokes every partition on each rejoin) the revoked partitions' work may finish
  within a bound, what finished is committed, and only then are the partitions forgotten; so their next
  owner, this process included, starts after that work and never runs it a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from shared.runtime.brokerwatch import BrokerWatch
from shared.runtime.inflight import InFlight
from shared.runtime.lifecycle import CONFIG_ERRORS, Stopped, describe, until_stopped, within
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outage import Outages
from shared.runtime.stage import Stage
from shared.settings import Settings

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200  # one poll's wait for records, and the longest a full loop goes without polling
REBALANCE_DRAIN_SHARE = 0.8  # revoked work may use this share of the rebalance timeout, so we rejoin in time


class ConsumeLoop:
    def __init__(self, stage: Stage, settings: Settings, metrics: RuntimeMetrics, watch: BrokerWatch,
                 outages: Outages, process: Callable[[ConsumerRecord], Coroutine[Any, Any, bool]],
                 on_task_done: Callable[[asyncio.Task[None]], None], stopping: asyncio.Event,
                 hurry: asyncio.Event) -> None:
        self.stage = stage
        self.settings = settings
        self.metrics = metrics
        self.watch = watch
        self.outages = outages
        self.process = process
        self.stopping = stopping
        self.hurry = hurry
        self.in_flight = InFlight(on_task_done)
        self.consumer: AIOKafkaConsumer | None = None
        self.drain_until: float | None = None  # set once stopping: revoked work gets no longer than this
        self._commits_failing: tuple[float, int] | None = None  # since when, and how many, while commits fail

    def listener(self) -> ConsumerRebalanceListener:
        return _DrainOnRevoke(self)

    async def run(self) -> None:
        assert self.consumer is not None
        next_commit = time.monotonic() + self.settings.commit_interval_s
        while not self.stopping.is_set():
            free = self._free()
            if free <= 0:  # paused partitions yield nothing, so a poll now would idle out its wait after a slot frees
                await self.in_flight.one_finishes(POLL_TIMEOUT_MS / 1000)
                free = self._free()
            self._hold(full=free <= 0)
            # Still full: poll without waiting, only to stay a live member of the group.
            for tp, records in (await self._poll(max(free, 1), POLL_TIMEOUT_MS if free > 0 else 0)).items():
                for record in records:
                    if free <= 0:  # fetched as a new assignment came in while full: read it again later
                        self.consumer.seek(tp, record.offset)
                        break
                    self.in_flight.start(tp, record.offset, partial(self.process, record))
                    self.metrics.in_flight.labels(self.stage.name).set(len(self.in_flight))
                    free -= 1
            if time.monotonic() >= next_commit:
                with contextlib.suppress(Stopped):  # a broker that does not answer must not delay a stop
                    await until_stopped(self._housekeeping(), self.stopping)
                next_commit = time.monotonic() + self.settings.commit_interval_s

    async def _housekeeping(self) -> None:
        await self.commit()
        await within(self._observe_lag(), self.settings.kafka_request_timeout_ms / 1000)

    async def commit(self, only: set[TopicPartition] | None = None, timeout_s: float | None = None) -> bool:
        """Commit what is safely done; False when the broker did not take it (the next commit retries)."""
        offsets = self.in_flight.offsets.committable(only)  # type: ignore[arg-type]
        if not offsets or self.consumer is None:
            return True
        limit = self.settings.kafka_request_timeout_ms / 1000
        error = await within(self.consumer.commit(offsets), limit if timeout_s is None else min(limit, timeout_s))
        if error is None:
            self.in_flight.offsets.committed(offsets)
            if self._commits_failing is not None:
                since, failed = self._commits_failing
                log.warning("%s: commits taken again after %.1fs (%d failed meanwhile)", self.stage.name,
                            time.monotonic() - since, failed)
                self._commits_failing = None
            return True
        self.metrics.commit_failures.labels(self.stage.name).inc()
        if self._commits_failing is None:
            # One line per spell (a coordinator that moved, a broker gone): the next commit retries.
            since, failed = time.monotonic(), 0
            if self.watch.reachable:  # while the broker is gone, its watch reports instead, once per check
                log.warning("%s: commit failed (%s); retrying with every commit until one is taken",
                            self.stage.name, error)
        else:
            since, failed = self._commits_failing
        self._commits_failing = (since, failed + 1)
        return False

    async def give_back(self, revoked: set[TopicPartition]) -> None:
        """Let the revoked partitions' work finish (bounded), commit it, then forget the partitions."""
        limit = min(self.settings.shutdown_grace_s,
                    self.settings.kafka_rebalance_timeout_ms / 1000 * REBALANCE_DRAIN_SHARE)
        if self.drain_until is not None:
            limit = min(limit, self.drain_until - time.monotonic())
        abandoned = await self.in_flight.drain(revoked, limit, self.hurry)
        await self.commit(only=revoked)
        self.in_flight.offsets.forget(revoked)  # type: ignore[arg-type]
        self.metrics.revoked(len(revoked), abandoned)
        if abandoned:
            log.warning("%s: %d messages of revoked partitions did not finish within %.1fs; left uncommitted "
                        "for the next owner", self.stage.name, abandoned, limit)

    def _free(self) -> int:
        if self.outages.down:  # back-pressure: nothing new while a dependency is down, but one to try it
            return 0 if len(self.in_flight) else 1
        return self.stage.in_flight_limit(self.settings.max_in_flight) - len(self.in_flight)

    def _hold(self, full: bool) -> None:
        assert self.consumer is not None
        if full:
            self.consumer.pause(*self.consumer.assignment())
        elif paused := self.consumer.paused():
            self.consumer.resume(*paused)

    async def _poll(self, max_records: int, timeout_ms: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        assert self.consumer is not None
        try:
            return await until_stopped(self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records),
                                       self.stopping)  # a join may take long: a stop must not wait for it
        except Stopped:
            return {}
        except CONFIG_ERRORS:
            raise
        except KafkaError as exc:  # the broker going away, a rebalance: the clients recover by themselves
            if self.watch.reachable:
                log.warning("%s: poll failed (%s)", self.stage.name, describe(exc))
            await asyncio.sleep(POLL_TIMEOUT_MS / 1000)
            return {}

    async def _observe_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag = high - await self.consumer.position(tp)
                self.metrics.lag.labels(self.stage.name, str(tp.partition)).set(max(0, lag))


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumeLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.loop.give_back(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.loop.metrics.assigned(len(assigned))
        log.info("%s assigned %s", self.loop.stage.name, sorted(tp.partition for tp in assigned))
