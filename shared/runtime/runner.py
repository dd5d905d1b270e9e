"""The consume loop every service runs: commit after success or dead letter, bounded in-flight work with
safe commits across rebalances, retry with backoff, graceful SIGTERM, health and metrics.

Order of concerns around a handler (outermost first): offset tracking and commit, dead-lettering of
poison input, retry with backoff, the handler.

Exit status: 0 stopped cleanly; 1 something the platform should answer with a restart (a dead letter that
could not be written, a background task that died, a shutdown that could not commit or close in time);
2 a fatal or configuration error, which a restart would not fix.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from shared import kafka
from shared.runtime.brokerwatch import BrokerWatch
from shared.runtime.handling import Handling, backoff
from shared.runtime.health import HealthServer
from shared.runtime.inflight import InFlight
from shared.runtime.lifecycle import (
    CONFIG_ERRORS,
    Stopped,
    arm_watchdog,
    describe,
    keep_trying,
    until_stopped,
    within,
)
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.stage import Stage, StageContext
from shared.settings import Settings

log = logging.getLogger(__name__)
Client = TypeVar("Client", AIOKafkaProducer, AIOKafkaConsumer)

EXIT_CLEAN, EXIT_RESTART, EXIT_FATAL = 0, 1, 2
POLL_TIMEOUT_MS = 200  # one poll's wait for records: also how soon a stop or a freed slot is noticed
REBALANCE_DRAIN_SHARE = 0.8  # revoked work may use this share of the rebalance timeout, so we rejoin in time
CLOSE_RESERVE_S = 2.0  # kept from the shutdown grace for the last commit and for closing the clients
MIN_CLOSE_STEP_S = 0.2  # each closing step gets at least this, even once the grace is used up
HARD_EXIT_MARGIN_S = 3.0  # after a stop signal the process ends at grace + this, stuck or not


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.runner.give_back(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.runner.metrics.assigned(len(assigned))
        log.info("%s assigned %s", self.runner.stage.name, sorted(tp.partition for tp in assigned))


class Runner:
    def __init__(self, stage: Stage, settings: Settings) -> None:
        self.stage = stage
        self.settings = settings
        self.metrics = RuntimeMetrics(stage.name)
        self.in_flight = InFlight(self._task_done)
        self.handling = Handling(stage, settings, self.metrics, self.publish, self._fatal, self.fail)
        self.stopping = asyncio.Event()
        self.hurry = asyncio.Event()  # a second stop signal: abandon in-flight work now
        self.fatal: str | None = None  # exit 2
        self.failure: str | None = None  # exit 1
        self.unclean: str | None = None  # exit 1: could not commit or close in time
        self.consuming = False
        self.pool = ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix=stage.name)
        self.app = web.Application()
        self.health = HealthServer(self.app, self.metrics.registry)
        self.watch = BrokerWatch(stage.name, self._update_ready)
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._connected = asyncio.Event()
        self._stop_at: float | None = None
        self._stage_started = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        self.watch.install()
        ctx = StageContext(self.settings, self.pool, self.publish, self.app, self.metrics.registry, self.fail)
        try:
            await self._start_up(ctx)
            await self._consume()
        except Stopped:
            pass
        except CONFIG_ERRORS as exc:
            self.fatal = describe(exc)
        finally:
            await self._shutdown(ctx)
            self.watch.remove()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return self._exit_status()

    async def _start_up(self, ctx: StageContext) -> None:
        def retrying(what: str, attempt):  # type: ignore[no-untyped-def]
            return keep_trying(self.stage.name, what, attempt, self.stopping, self._startup_backoff)

        await retrying("start", lambda: self.stage.start(ctx))  # Fatal here: bad configuration, exit 2
        self._stage_started = True
        await self.health.start(self.settings.health_host, self.settings.health_port)  # alive, not ready
        if self.settings.create_topics:
            await retrying("create topics", lambda: kafka.ensure_topics(self.settings))
        self.producer = await retrying("connect to Kafka", lambda: _opened(kafka.make_producer(self.settings)))
        self._connected.set()
        self.watch.connected()
        ctx.spawn(self.watch.run(self.producer.client.fetch_all_metadata))  # a crash of it stops the service

        def consumer() -> AIOKafkaConsumer:
            made = kafka.make_consumer(self.settings, group_id=self.stage.group_id())
            made.subscribe([kafka.topic_name(self.settings, self.stage.consumes)], listener=_DrainOnRevoke(self))
            return made

        self.consumer = await retrying("join the consumer group", lambda: _opened(consumer()))
        self.consuming = True
        self._update_ready()
        log.info("%s consuming %s", self.stage.name, self.stage.consumes.value)

    def _startup_backoff(self, attempt: int) -> float:
        return backoff(self.settings, attempt)

    def request_stop(self, quiet: bool = False) -> None:
        if not self.stopping.is_set():
            if not quiet:
                log.info("%s: stop requested; finishing in-flight work (up to %.0fs)", self.stage.name,
                         self.settings.shutdown_grace_s)
            self._stop_at = time.monotonic() + self.settings.shutdown_grace_s
            self.stopping.set()
            self._update_ready()

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("%s: stop signal again; abandoning in-flight work now", self.stage.name)
            self.hurry.set()
            return
        self.request_stop()
        arm_watchdog(self.stage.name, self.settings.shutdown_grace_s + HARD_EXIT_MARGIN_S, EXIT_RESTART)

    def _fatal(self, reason: str) -> None:
        self.fatal = reason
        self.request_stop()

    def fail(self, reason: str) -> None:
        """The service cannot go on as it is: unready, stop, exit 1 so the platform restarts it."""
        if self.failure is None:
            self.failure = reason
            log.error("%s: %s; stopping", self.stage.name, reason)
        self.request_stop()

    def _update_ready(self) -> None:
        self.health.ready = self.consuming and self.watch.reachable and not self.stopping.is_set()
        self.metrics.broker_reachable.labels(self.stage.name).set(int(self.watch.reachable))

    async def publish(self, message: BaseModel) -> None:
        await self._connected.wait()  # a background task may publish before the broker is reachable
        assert self.producer is not None
        topic = kafka.topic_name(self.settings, kafka.TOPIC_OF[type(message)])
        await self.producer.send_and_wait(topic, kafka.encode(message), key=kafka.key_of(message))
        self.metrics.published.labels(self.stage.name, topic).inc()

    async def commit(self, only: set[TopicPartition] | None = None) -> bool:
        """Commit what is safely done; False when the broker did not take it (the next commit retries)."""
        offsets = self.in_flight.offsets.committable(only)  # type: ignore[arg-type]
        if not offsets or self.consumer is None:
            return True
        error = await within(self.consumer.commit(offsets), self.settings.kafka_request_timeout_ms / 1000)
        if error is None:
            self.in_flight.offsets.committed(offsets)
            return True
        self.metrics.commit_failures.labels(self.stage.name).inc()
        if self.watch.reachable:  # while the broker is gone, its watch reports instead, once per check
            log.warning("%s: commit failed (%s); will retry", self.stage.name, error)
        return False

    async def give_back(self, revoked: set[TopicPartition]) -> None:
        """Rebalance: let the revoked partitions' work finish (bounded), commit it, then forget them, so
        their next owner starts after what was done here and nothing runs twice."""
        limit = min(self.settings.shutdown_grace_s,
                    self.settings.kafka_rebalance_timeout_ms / 1000 * REBALANCE_DRAIN_SHARE)
        if self._stop_at is not None:
            limit = min(limit, self._stop_at - CLOSE_RESERVE_S - time.monotonic())
        abandoned = await self.in_flight.drain(revoked, limit, self.hurry)
        await self.commit(only=revoked)
        self.in_flight.offsets.forget(revoked)  # type: ignore[arg-type]
        self.metrics.revoked(len(revoked), abandoned)
        if abandoned:
            log.warning("%s: %d messages of revoked partitions did not finish within %.1fs; left uncommitted "
                        "for the next owner", self.stage.name, abandoned, limit)

    async def _consume(self) -> None:
        assert self.consumer is not None
        next_commit = time.monotonic() + self.settings.commit_interval_s
        while not self.stopping.is_set():
            free = self.stage.in_flight_limit(self.settings.max_in_flight) - len(self.in_flight)
            self._hold(full=free <= 0)  # keep polling while full: a member that stops polling is evicted
            for tp, records in (await self._poll(max(free, 1))).items():
                for record in records:
                    if free <= 0:  # fetched as a new assignment came in while full: read it again later
                        self.consumer.seek(tp, record.offset)
                        break
                    self._start(tp, record)
                    free -= 1
            if time.monotonic() >= next_commit:
                await self.commit()
                await within(self._observe_lag(), self.settings.kafka_request_timeout_ms / 1000)
                next_commit = time.monotonic() + self.settings.commit_interval_s

    def _hold(self, full: bool) -> None:
        assert self.consumer is not None
        if full:
            self.consumer.pause(*self.consumer.assignment())
        elif paused := self.consumer.paused():
            self.consumer.resume(*paused)

    async def _poll(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        assert self.consumer is not None
        try:
            return await until_stopped(self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=max_records),
                                       self.stopping)
        except Stopped:
            return {}
        except CONFIG_ERRORS:
            raise
        except KafkaError as exc:  # the broker going away, a rebalance: the clients recover by themselves
            if self.watch.reachable:
                log.warning("%s: poll failed (%s)", self.stage.name, describe(exc))
            await asyncio.sleep(POLL_TIMEOUT_MS / 1000)
            return {}

    def _start(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        self.in_flight.start(tp, record.offset, lambda: self.handling.process(record))
        self.metrics.in_flight.labels(self.stage.name).set(len(self.in_flight))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.metrics.in_flight.labels(self.stage.name).set(len(self.in_flight))
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s: unexpected runtime error", self.stage.name, exc_info=exc)
            self.fail(f"unexpected runtime error: {describe(exc)}")  # type: ignore[arg-type]

    async def _shutdown(self, ctx: StageContext) -> None:
        """Stop polling, give in-flight work the grace period, commit what finished, close everything; each
        step bounded by what is left of the grace."""
        self.request_stop(quiet=True)
        assert self._stop_at is not None
        reserve = min(CLOSE_RESERVE_S, self.settings.shutdown_grace_s / 2)
        if len(self.in_flight):
            log.info("%s: waiting up to %.0fs for %d in-flight messages", self.stage.name,
                     self._stop_at - reserve - time.monotonic(), len(self.in_flight))
        abandoned = await self.in_flight.drain(None, self._stop_at - reserve - time.monotonic(), self.hurry)
        if abandoned:
            self.metrics.abandoned.labels(self.stage.name).inc(abandoned)
            log.warning("%s: abandoned %d unfinished messages, uncommitted (they will be redelivered)",
                        self.stage.name, abandoned)
        if self.consumer is not None and not await self.commit():
            self.unclean = self.unclean or "the last commit failed"
        steps = [("background tasks", ctx.close()), ("stage", self.stage.stop() if self._stage_started else None),
                 ("consumer", self.consumer.stop() if self.consumer else None),
                 ("producer", self.producer.stop() if self.producer else None), ("health", self.health.stop())]
        for what, step in steps:
            if step is None:
                continue
            error = await within(step, max(self._stop_at - time.monotonic(), MIN_CLOSE_STEP_S))
            if error is not None:
                self.unclean = self.unclean or f"closing the {what}: {error}"
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _exit_status(self) -> int:
        if self.fatal:
            log.error("%s stopped: %s", self.stage.name, self.fatal)
            return EXIT_FATAL
        if self.failure or self.unclean:
            log.error("%s stopped: %s", self.stage.name, self.failure or self.unclean)
            return EXIT_RESTART
        log.info("%s stopped cleanly", self.stage.name)
        return EXIT_CLEAN

    async def _observe_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag = high - await self.consumer.position(tp)
                self.metrics.lag.labels(self.stage.name, str(tp.partition)).set(max(0, lag))


async def _opened(client: Client) -> Client:
    """`client`, started; closed again if it could not start (so a retry leaves nothing behind)."""
    try:
        await client.start()
    except BaseException:
        await within(client.stop(), MIN_CLOSE_STEP_S)
        raise
    return client
