"""A stage running in this process on the test broker, for tests that talk to it through its topics or API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.runtime.runner import Runner
from shared.runtime.stage import Stage
from shared.settings import Settings


@asynccontextmanager
async def running(stage: Stage, settings: Settings, timeout_s: float = 60) -> AsyncIterator[Runner]:
    """Yields once the stage consumes; fails (never hangs) when it stops first or takes over `timeout_s`."""
    runner = Runner(stage, settings)
    task = asyncio.create_task(runner.run())

    async def ready() -> None:
        while not runner.health.ready:
            if task.done():
                raise AssertionError(f"{stage.name} stopped before it was ready (exit {task.result()})")
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(ready(), timeout=timeout_s)
        yield runner
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, timeout=timeout_s)
