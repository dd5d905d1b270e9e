"""What a stage is: a typed message handler with optional setup, known to the runtime by its class.

A stage never sees Kafka: it gets a validated message and returns the message(s) to publish; where a
returned message goes is decided by its type (shared.kafka.TOPIC_OF).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from shared.settings import Settings
from shared.topics import Topic

In = TypeVar("In", bound=BaseModel)
T = TypeVar("T")
Output = BaseModel | Sequence[BaseModel] | None

log = logging.getLogger(__name__)


class StageContext:
    """What the runtime lends a stage: settings, a worker pool, publishing, HTTP routes, metrics."""

    def __init__(
        self,
        settings: Settings,
        pool: ThreadPoolExecutor,
        publish: Callable[[BaseModel], Awaitable[None]],
        http: web.Application,
        registry: CollectorRegistry,
        on_crash: Callable[[str], None] | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        # Set once the service is asked to stop: work not yet begun that would cost money should not begin.
        self.stopping = stopping if stopping is not None else asyncio.Event()
        self.pool = pool
        self.publish = publish
        self.http = http
        self.registry = registry
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_crash = on_crash

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU-bound or blocking work, off the event loop so heartbeats and other messages keep going."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A background task of the stage (a folder watcher, say), cancelled when the service stops. If it
        dies of an error the service cannot go on without it: it goes unready and exits non-zero."""
        task = asyncio.create_task(coro, name=getattr(coro, "__qualname__", None))
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("background task %s died", task.get_name(), exc_info=exc)
        if self._on_crash is not None:
            self._on_crash(f"background task {task.get_name()} died: {type(exc).__name__}: {exc}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Stage(ABC, Generic[In]):
    name: ClassVar[str]
    consumes: ClassVar[Topic]
    message: ClassVar[type[BaseModel]]
    # What it depends on besides the broker (shared.runtime.outage's names), shown in mira_dependency_up.
    dependencies: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def group_id(cls) -> str:
        return f"mira-{cls.name}"

    async def start(self, ctx: StageContext) -> None:
        """Build clients and load models once, before the first message. Raise Fatal (or ValueError) for
        bad configuration; any other error (a database not reachable yet) makes the runtime call start()
        again after a backoff, so connect to what may be down before registering routes or metrics."""

    @abstractmethod
    async def handle(self, message: In) -> Output:
        """Message in, message(s) out. Raise BadInput for poison input; anything else is retried."""

    def in_flight_limit(self, default: int) -> int:
        """Messages to work on at once; asked before every fetch, so a stage may adapt it (MIRA_MAX_IN_FLIGHT
        is the default)."""
        return default

    async def stop(self) -> None:
        """Release what start() opened."""
