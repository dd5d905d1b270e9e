"""A service's life on the shared runtime: start-up retried until its dependencies answer, the consume loop
(shared.runtime.consume), health and metrics, and a shutdown that ends within the grace in every state.

Order of concerns around a handler (outermost first): offset tracking and commit (consume, inflight),
dead-lettering of poison input, retry with backoff (handling), the handler.

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
from typing import Any, TypeVar

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from shared import kafka
from shared.runtime.brokerwatch import BrokerWatch
from shared.runtime.consume import ConsumeLoop
from shared.runtime.handling import Handling, backoff
from shared.runtime.health import HealthServer
from shared.runtime.inflight import InFlight
from shared.runtime.lifecycle import CONFIG_ERRORS, Stopped, arm_watchdog, describe, keep_trying, within
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outage import BROKER, Outages
from shared.runtime.stage import Stage, StageContext
from shared.settings import Settings

log = logging.getLogger(__name__)
Client = TypeVar("Client", AIOKafkaProducer, AIOKafkaConsumer)

EXIT_CLEAN, EXIT_RESTART, EXIT_FATAL = 0, 1, 2
CLOSE_RESERVE_S = 2.0  # kept from the shutdown grace for the last commit and for closing the clients
MIN_CLOSE_STEP_S = 0.2  # each closing step gets at least this, even once the grace is used up
HARD_EXIT_MARGIN_S = 3.0  # after a stop signal the process ends at grace + this, stuck or not


class Runner:
    def __init__(self, stage: Stage, settings: Settings) -> None:
        self.stage = stage
        self.settings = settings
        self.metrics = RuntimeMetrics(stage.name)
        self.outages = Outages(stage.name, self._update_ready)
        self.handling = Handling(stage, settings, self.metrics, self.publish, self._fatal, self.fail, self.outages)
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
        self.consume_loop = ConsumeLoop(stage, settings, self.metrics, self.watch, self.outages,
                                        self.handling.process, self._task_done, self.stopping, self.hurry)
        self.producer: AIOKafkaProducer | None = None
        self._connected = asyncio.Event()
        self._stop_at: float | None = None
        self._stage_started = False
        self.outages.declare(BROKER, *stage.dependencies)

    async def run(self) -> int:
        previous = self._catch_signals()
        self.watch.install()
        ctx = StageContext(self.settings, self.pool, self.publish, self.app, self.metrics.registry, self.fail,
                           self.stopping)
        try:
            await self._start_up(ctx)
            await self.consume_loop.run()
        except Stopped:
            pass
        except CONFIG_ERRORS as exc:
            self.fatal = describe(exc)
        finally:
            await self._shutdown(ctx)
            self.watch.remove()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._exit_status()

    def _catch_signals(self) -> dict[signal.Signals, Any]:
        """SIGTERM/SIGINT: stop. The watchdog is armed by the signal itself, not by the event loop, so even a
        loop that a stuck handler blocks ends in time."""
        loop = asyncio.get_running_loop()
        armed = False

        def on_signal(_signum: int, _frame: object) -> None:
            nonlocal armed
            if not armed:
                armed = True
                arm_watchdog(self.stage.name, self.settings.shutdown_grace_s + HARD_EXIT_MARGIN_S, EXIT_RESTART)
            loop.call_soon_threadsafe(self._on_signal)

        return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

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
            made.subscribe([kafka.topic_name(self.settings, self.stage.consumes)], listener=self.consume_loop.listener())
            return made

        self.consume_loop.consumer = await retrying("join the consumer group", lambda: _opened(consumer()))
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
            self.consume_loop.drain_until = self._stop_at - self._close_reserve()
            self.stopping.set()
            self._update_ready()

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            log.warning("%s: stop signal again; abandoning in-flight work now", self.stage.name)
            self.hurry.set()
            return
        self.request_stop()

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
        down = self.outages.reason()
        if not self.watch.reachable and self.consuming:
            down = "; ".join(filter(None, ["broker unreachable", down]))
        self.health.ready = self.consuming and down is None and not self.stopping.is_set()
        self.health.reason = ("stopping" if self.stopping.is_set() else down if self.consuming and down
                              else None if self.consuming else "starting")
        self.metrics.broker_reachable.labels(self.stage.name).set(int(self.watch.reachable))
        for name in self.outages.names:
            up = name not in self.outages.down and (name != BROKER or self.watch.reachable)
            self.metrics.dependency_up.labels(self.stage.name, name).set(int(up))

    async def publish(self, message: BaseModel) -> None:
        await self._connected.wait()  # a background task may publish before the broker is reachable
        assert self.producer is not None
        topic = kafka.topic_name(self.settings, kafka.TOPIC_OF[type(message)])
        await self.producer.send_and_wait(topic, kafka.encode(message), key=kafka.key_of(message))
        self.metrics.published.labels(self.stage.name, topic).inc()

    @property
    def in_flight(self) -> InFlight:
        return self.consume_loop.in_flight

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return self.consume_loop.consumer

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
        drain_s = self._stop_at - self._close_reserve() - time.monotonic()
        if len(self.in_flight):
            log.info("%s: waiting up to %.0fs for %d in-flight messages", self.stage.name, drain_s,
                     len(self.in_flight))
        abandoned = await self.in_flight.drain(None, drain_s, self.hurry)
        if abandoned:
            self.metrics.abandoned.labels(self.stage.name).inc(abandoned)
            log.warning("%s: abandoned %d unfinished messages, uncommitted (they will be redelivered)",
                        self.stage.name, abandoned)
        last_commit_s = max(self._stop_at - time.monotonic(), MIN_CLOSE_STEP_S)
        if self.consumer is not None and not await self.consume_loop.commit(timeout_s=last_commit_s):
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

    def _close_reserve(self) -> float:
        return min(CLOSE_RESERVE_S, self.settings.shutdown_grace_s / 2)

    def _exit_status(self) -> int:
        if self.fatal:
            log.error("%s stopped: %s", self.stage.name, self.fatal)
            return EXIT_FATAL
        if self.failure or self.unclean:
            log.error("%s stopped: %s", self.stage.name, self.failure or self.unclean)
            return EXIT_RESTART
        log.info("%s stopped cleanly", self.stage.name)
        return EXIT_CLEAN


async def _opened(client: Client) -> Client:
    """`client`, started; closed again if it could not start (so a retry leaves nothing behind)."""
    try:
        await client.start()
    except BaseException:
        await within(client.stop(), MIN_CLOSE_STEP_S)
        raise
    return client
