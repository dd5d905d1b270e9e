"""The messages a service is working on, by partition, so that a rebalance or a stop waits for exactly the
work it is about to give away.

Each message runs as its own task. Its offset counts as done only if the task says so and its partition
has not been revoked since it started (OffsetTracker's generations); a task that is still running when its
partition must go is cancelled and never committed, so the partition's next owner handles it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import TopicPartition

from shared.runtime.offsets import OffsetTracker

# Cancelled handlers normally end at once; one stuck in code that ignores cancellation is not waited for
# longer than this (its late finish is ignored by generation anyway).
CANCEL_WAIT_S = 1.0

Work = Callable[[], Coroutine[Any, Any, bool]]


class InFlight:
    def __init__(self, on_task_done: Callable[[asyncio.Task[None]], None]) -> None:
        self.offsets = OffsetTracker()
        self._tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._on_task_done = on_task_done

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, tp: TopicPartition, offset: int, work: Work) -> None:
        """Run `work` (True when the message is finished: handled or dead-lettered) and track its offset."""
        generation = self.offsets.started(tp, offset)

        async def tracked() -> None:
            if await work():
                self.offsets.finished(tp, offset, generation)

        task = asyncio.create_task(tracked())
        self._tasks[task] = tp
        task.add_done_callback(self._done)

    async def one_finishes(self, timeout_s: float) -> None:
        """Return as soon as any message's task ends, or after `timeout_s`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._on_task_done(task)

    async def drain(self, tps: set[TopicPartition] | None, timeout_s: float,
                    hurry: asyncio.Event | None = None) -> int:
        """Wait up to `timeout_s` (or until `hurry` is set) for the work of `tps` (None: all) to finish;
        cancel what is left. Returns how many messages were abandoned."""
        tasks = {t for t, tp in self._tasks.items() if tps is None or tp in tps}
        if not tasks:
            return 0
        hurried = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        try:
            while tasks and loop.time() < deadline and not (hurried and hurried.done()):
                waiting: set[asyncio.Future[Any]] = {*tasks, *([hurried] if hurried else [])}
                await asyncio.wait(waiting, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED)
                tasks = {t for t in tasks if not t.done()}
        finally:
            if hurried is not None:
                hurried.cancel()
        pending = tasks
        for task in pending:
            task.cancel()  # abandoned: never committed, so redelivered to whoever owns the partition next
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_WAIT_S)
        return len(pending)
