"""Blocking calls that arrive together, made as one: concurrent handlers each hand in an item and await
their own result, while one blocking call takes everything queued so far (one database transaction per
batch instead of one per message). Items that arrive during a call form the next batch, so batches grow
with the load and a lone message waits for nothing.

A caller gets its result only after the batch call has returned, so whatever it then acknowledges is
already durable. When a batch fails, its items are tried one by one, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
RunBlocking = Callable[..., Awaitable[Any]]


class Coalescer(Generic[T, R]):
    def __init__(self, call: Callable[[Sequence[T]], Sequence[R]], run_blocking: RunBlocking,
                 max_batch: int = 500) -> None:
        self.call = call
        self.run = run_blocking
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                results = await self.run(self.call, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to the callers, item by item
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                else:
                    await asyncio.gather(*(self._alone(item, future) for item, future in batch))
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)

    async def _alone(self, item: T, future: asyncio.Future[R]) -> None:
        try:
            (result,) = await self.run(self.call, [item])
        except Exception as exc:  # noqa: BLE001 - the caller raises it
            _settle(future, exc=exc)
        else:
            _settle(future, result)


def _settle(future: asyncio.Future[R], result: R | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled (a rebalance, a shutdown): the item was still handled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
