"""The decode workers: threads apart from the runtime's pool (decoding is long and CPU-bound), which know
how long each decode has been running.

Every read checks the clip's deadline, so a decode ends soon after MIRA_DECODE_TIMEOUT_S; one that runs far
past it is stuck where no check reaches (inside a decoder), and a Python thread cannot be stopped. The
watchdog then ends with an error, which the runtime treats as a dead background task: the service goes
unready and exits non-zero, and the platform starts a fresh one, instead of quietly losing a worker.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
STUCK_GRACE_S = 30.0  # past its deadline, a decode this much longer is stuck, not just slow to notice
WATCH_INTERVAL_S = 5.0


class StuckDecoder(RuntimeError):
    """A decode worker ran far past its deadline."""


class DecodePool:
    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="decode")
        self._running: dict[int, float] = {}  # call number -> when it started (monotonic)
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._timed, fn, args)

    def _timed(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        number = next(self._numbers)
        with self._lock:
            self._running[number] = time.monotonic()
        try:
            return fn(*args)
        finally:
            with self._lock:
                del self._running[number]

    def longest_s(self) -> float:
        """How long the oldest running decode has been at it (0 when none runs)."""
        with self._lock:
            oldest = min(self._running.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    async def watch(self, limit_s: float, interval_s: float = WATCH_INTERVAL_S) -> None:
        """Return never; raise StuckDecoder once a decode has run longer than `limit_s`."""
        while True:
            await asyncio.sleep(interval_s)
            if (longest := self.longest_s()) > limit_s:
                raise StuckDecoder(f"a decode worker has been stuck for {longest:.0f} s, past "
                                   "MIRA_DECODE_TIMEOUT_S: restart the service to get it back")

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
