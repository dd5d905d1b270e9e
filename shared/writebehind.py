"""Writes an outage refused, kept in memory and made once the store answers again.

An answer a model was paid for while the record store was down must not be lost with the failed write: the
caption stage would ask (and pay) again on the retry. So a write that fails because its store is unavailable
(shared.runtime.outage) is kept here, at most `limit` of them (a writer waits for room beyond that), read
back by `get` instead of the store, and retried in the background with backoff until it is made. A process
killed meanwhile loses what it kept: the documented kill-mid-call window, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from shared.runtime import outage

log = logging.getLogger(__name__)
V = TypeVar("V")


class WriteBehind(Generic[V]):
    def __init__(self, write: Callable[[str, V], object], what: str, limit: int = 10_000) -> None:
        self.write_now = write  # blocking: run in a thread
        self.what = what
        self.limit = limit
        self.kept: dict[str, V] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._room = asyncio.Event()

    def get(self, key: str) -> V | None:
        return self.kept.get(key)

    async def write(self, key: str, value: V) -> bool:
        """Write now; True once written. A store outage keeps it for later (False); other errors raise."""
        if not self.kept:
            try:
                await asyncio.to_thread(self.write_now, key, value)
                return True
            except Exception as exc:
                if outage.dependency_down(exc) is None:
                    raise
        await self.keep(key, value)
        return False

    async def keep(self, key: str, value: V) -> None:
        """Keep `value` to be written once the store answers (waiting for room when `limit` are kept)."""
        if not self.kept:
            log.warning("%s could not be written (its store is unavailable); kept in memory until it answers",
                        self.what)
        while len(self.kept) >= self.limit and key not in self.kept:
            self._room.clear()
            await self._room.wait()
        self.kept[key] = value
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        tries = 0
        while self.kept:
            tries += 1
            await asyncio.sleep(outage.retry_delay(tries))
            for key, value in list(self.kept.items()):
                try:
                    await asyncio.to_thread(self.write_now, key, value)
                except Exception as exc:  # noqa: BLE001 - an outage waits; anything else is reported
                    if outage.dependency_down(exc) is None:
                        log.warning("%s could not be written (%s); dropped", self.what, exc)
                    else:
                        break
                self.kept.pop(key, None)
                self._room.set()
        if tries:
            log.info("%s kept during the outage written after %d tries", self.what, tries)

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
