"""Small stages for the runtime tests: each records what it was asked to do, per process (instance)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from shared.messages import ClipSubmission
from shared.runtime.errors import BadInput, Fatal
from shared.runtime.runner import Runner
from shared.runtime.stage import Stage, StageContext
from shared.settings import Settings
from shared.topics import Topic


class SlowStage(Stage[ClipSubmission]):
    """Takes `seconds` per message and publishes nothing; `done` may be shared by several instances."""

    name = "slowpoke"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    def __init__(self, seconds: float, done: set[str] | None = None) -> None:
        self.seconds = seconds
        self.started: Counter[str] = Counter()
        self.done = done if done is not None else set()

    async def handle(self, message: ClipSubmission) -> None:
        self.started[message.source] += 1
        await asyncio.sleep(self.seconds)
        self.done.add(message.source)


class RejectingStage(Stage[ClipSubmission]):
    """Every message is bad input, once `gate` is set (so a test can break the broker first)."""

    name = "rejecting"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.handling = asyncio.Event()

    async def handle(self, message: ClipSubmission) -> None:
        self.handling.set()
        await self.gate.wait()
        raise BadInput("never valid")


class CrashingWatcherStage(Stage[ClipSubmission]):
    """Starts a background task that dies soon after start-up."""

    name = "crashing"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    async def start(self, ctx: StageContext) -> None:
        ctx.spawn(self._watch())

    async def _watch(self) -> None:
        await asyncio.sleep(0.5)
        raise OSError("the watched folder is gone")

    async def handle(self, message: ClipSubmission) -> None:
        return None


class MisconfiguredStage(Stage[ClipSubmission]):
    """Refuses to start, as a stage does when a setting makes it unusable."""

    name = "misconfigured"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    async def start(self, ctx: StageContext) -> None:
        raise Fatal("MIRA_SOMETHING is not usable")

    async def handle(self, message: ClipSubmission) -> None:
        return None


class LoopBlockingStage(Stage[ClipSubmission]):
    """A handler with a bug that blocks the event loop for good (a blocking call made on the loop). It
    touches the file named by $BLOCKING_STAGE_MARKER first, so a test knows when it is stuck."""

    name = "blocking"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    async def handle(self, message: ClipSubmission) -> None:
        Path(os.environ["BLOCKING_STAGE_MARKER"]).touch()
        time.sleep(3600)  # noqa: ASYNC251 - the bug this stage stands for


def run_blocking_stage() -> int:
    """Entry point of a process that runs LoopBlockingStage with settings from the environment."""
    return asyncio.run(Runner(LoopBlockingStage(), Settings()).run())
