"""The consume loop every service runs: commit after success or dead letter, bounded in-flight work with
safe commits, retry with backoff, graceful SIGTERM, health and metrics.

Order of concerns around a handler (outermost first): offset tracking and commit, dead-lettering of
poison input, retry with backoff, the handler.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared import kafka
from shared.messages import DeadLetter
from shared.runtime.errors import BadInput, Fatal, RetryLater
from shared.runtime.health import HealthServer
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.offsets import OffsetTracker
from shared.runtime.stage import Stage, StageContext
from shared.settings import Settings

log = logging.getLogger(__name__)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.runner.commit(only=set(revoked))
        self.runner.offsets.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s assigned %s", self.runner.stage.name, sorted(tp.partition for tp in assigned))


class Runner:
    def __init__(self, stage: Stage, settings: Settings) -> None:
        self.stage = stage
        self.settings = settings
        self.metrics = RuntimeMetrics(stage.name)
        self.offsets = OffsetTracker()
        self.stopping = asyncio.Event()
        self.fatal: str | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.pool = ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix=stage.name)
        self.app = web.Application()
        self.health = HealthServer(self.app, self.metrics.registry)
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        if self.settings.create_topics:
            await kafka.ensure_topics(self.settings)
        self.producer = kafka.make_producer(self.settings)
        await self.producer.start()
        ctx = StageContext(self.settings, self.pool, self.publish, self.app, self.metrics.registry)
        started = False
        try:
            await self.stage.start(ctx)  # may raise Fatal: bad configuration fails before any message
            started = True
            await self.health.start(self.settings.health_host, self.settings.health_port)
            self.consumer = kafka.make_consumer(self.settings, group_id=self.stage.group_id())
            self.consumer.subscribe([kafka.topic_name(self.settings, self.stage.consumes)],
                                    listener=_CommitOnRevoke(self))
            await self.consumer.start()
            self.health.ready = True
            log.info("%s consuming %s", self.stage.name, self.stage.consumes.value)
            await self._consume()
        except Fatal as exc:
            self.fatal = exc.reason
        finally:
            self.health.ready = False
            await self._drain()
            await ctx.close()
            if started:
                await self.stage.stop()
            if self.consumer:
                await self.consumer.stop()
            await self.producer.stop()
            await self.health.stop()
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.fatal:
            log.error("%s stopped: %s", self.stage.name, self.fatal)
            return 2
        log.info("%s stopped cleanly", self.stage.name)
        return 0

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("%s: stop requested; finishing in-flight work", self.stage.name)
            self.stopping.set()

    async def publish(self, message: BaseModel) -> None:
        assert self.producer is not None
        topic = kafka.topic_name(self.settings, kafka.TOPIC_OF[type(message)])
        await self.producer.send_and_wait(topic, kafka.encode(message), key=kafka.key_of(message))
        self.metrics.published.labels(self.stage.name, topic).inc()

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        offsets = self.offsets.committable(only)  # type: ignore[arg-type]
        if not offsets or self.consumer is None:
            return
        try:
            await self.consumer.commit(offsets)  # type: ignore[arg-type]
            self.offsets.committed(offsets)
        except Exception as exc:  # noqa: BLE001 - a rebalance in progress: the next commit or new owner covers it
            log.warning("%s: commit failed (%s); will retry", self.stage.name, exc)

    async def _consume(self) -> None:
        assert self.consumer is not None
        next_commit = time.monotonic() + self.settings.commit_interval_s
        while not self.stopping.is_set():
            free = self.stage.in_flight_limit(self.settings.max_in_flight) - len(self.in_flight)
            if free <= 0:
                await asyncio.wait(self.in_flight, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            else:
                batch = await self.consumer.getmany(timeout_ms=200, max_records=free)
                for tp, records in batch.items():
                    for record in records:
                        self._start(tp, record)
            if time.monotonic() >= next_commit:
                await self.commit()
                await self._observe_lag()
                next_commit = time.monotonic() + self.settings.commit_interval_s

    def _start(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        self.offsets.started(tp, record.offset)
        task = asyncio.create_task(self._process(tp, record))
        self.in_flight.add(task)
        self.metrics.in_flight.labels(self.stage.name).set(len(self.in_flight))
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.metrics.in_flight.labels(self.stage.name).set(len(self.in_flight))
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: unexpected runtime error", self.stage.name, exc_info=task.exception())

    async def _process(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        began = time.monotonic()
        try:
            message = kafka.decode(self.stage.message, record.value)
        except ValidationError as exc:
            await self._dead_letter(record, f"invalid {self.stage.message.__name__}: {_brief(exc)}",
                                    "ValidationError")
            outcome: str | None = "dead_letter"
        else:
            outcome = await self._handle_with_retries(record, message)
        if outcome is None:
            return  # fatal: leave the offset uncommitted for whoever consumes next
        self.metrics.finished(outcome, time.monotonic() - began)
        self.offsets.finished(tp, record.offset)

    async def _handle_with_retries(self, record: ConsumerRecord, message: BaseModel) -> str | None:
        attempt = 0
        while True:
            attempt += 1
            try:
                out = await self.stage.handle(message)
                for item in _as_list(out):
                    await self.publish(item)
                return "ok"
            except BadInput as exc:
                await self._dead_letter(record, exc.reason, "BadInput", message)
                return "dead_letter"
            except Fatal as exc:
                self.fatal = exc.reason
                self.request_stop()
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - anything unexpected is retryable, then dead-lettered
                reason = f"{type(exc).__name__}: {exc}"
                if attempt >= self.settings.max_attempts:
                    await self._dead_letter(record, f"gave up after {attempt} attempts: {reason}",
                                            type(exc).__name__, message)
                    return "dead_letter"
                self.metrics.retries.labels(self.stage.name).inc()
                delay = self._backoff(attempt, exc.after_s if isinstance(exc, RetryLater) else None)
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs",
                            self.stage.name, attempt, reason, delay)
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int, after_s: float | None) -> float:
        if after_s is not None:
            return after_s
        ceiling = min(self.settings.retry_max_s, self.settings.retry_base_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter: replicas do not retry in lockstep

    async def _dead_letter(self, record: ConsumerRecord, reason: str, error_type: str,
                           message: BaseModel | None = None) -> None:
        job_id = getattr(message, "job_id", None)
        clip = getattr(message, "clip", None)
        letter = DeadLetter(
            stage=self.stage.name, reason=reason, error_type=error_type,
            source_topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            job_id=job_id, clip_id=getattr(clip, "clip_id", None),
            payload=(record.value or b"").decode(errors="replace"),
        )
        log.warning("%s: dead-lettered offset %d of %s: %s", self.stage.name, record.offset,
                    record.topic, reason)
        await self.publish(letter)

    async def _drain(self) -> None:
        """SIGTERM: stop polling, give in-flight work the grace period, commit what finished."""
        if self.in_flight:
            log.info("%s: waiting up to %.0fs for %d in-flight messages", self.stage.name,
                     self.settings.shutdown_grace_s, len(self.in_flight))
            _, pending = await asyncio.wait(self.in_flight, timeout=self.settings.shutdown_grace_s)
            for task in pending:
                task.cancel()  # abandoned: uncommitted, so redelivered to the next consumer
            await asyncio.gather(*pending, return_exceptions=True)
        await self.commit()

    async def _observe_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag = high - await self.consumer.position(tp)
                self.metrics.lag.labels(self.stage.name, str(tp.partition)).set(max(0, lag))


def _as_list(out: object) -> list[BaseModel]:
    if out is None:
        return []
    if isinstance(out, BaseModel):
        return [out]
    return list(out)  # type: ignore[call-overload]


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])

