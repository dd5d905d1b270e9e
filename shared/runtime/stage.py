"""What a stage is: a typed message handler with optional setup, known to the runtime by its class.

A stage never sees Kafka: it gets a validated message and returns the message(s) to publish; where a
returned message goes is decided by its type (shared.kafka.TOPIC_OF).
"""

from __future__ import annotations

import asyncio
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


class StageContext:
    """What the runtime lends a stage: settings, a worker pool, publishing, HTTP routes, metrics."""

    def __init__(
        self,
        settings: Settings,
        pool: ThreadPoolExecutor,
        publish: Callable[[BaseModel], Awaitable[None]],
        http: web.Application,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.publish = publish
        self.http = http
        self.registry = registry
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU-bound or blocking work, off the event loop so heartbeats and other messages keep going."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A background task of the stage (a folder watcher, say), cancelled when the service stops."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Stage(ABC, Generic[In]):
    name: ClassVar[str]
    consumes: ClassVar[Topic]
    message: ClassVar[type[BaseModel]]

    @classmethod
    def group_id(cls) -> str:
        return f"mira-{cls.name}"

    async def start(self, ctx: StageContext) -> None:
        """Build clients and load models once, before the first message."""

    @abstractmethod
    async def handle(self, message: In) -> Output:
        """Message in, message(s) out. Raise BadInput for poison input; anything else is retried."""

    def in_flight_limit(self, default: int) -> int:
        """Messages to work on at once; asked before every fetch, so a stage may adapt it (MIRA_MAX_IN_FLIGHT
        is the default)."""
        return default

    async def stop(self) -> None:
        """Release what start() opened."""
