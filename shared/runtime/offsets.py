"""Which offsets are safe to commit when messages finish out of order.

Kafka commits one offset per partition meaning "everything before this is done". With N messages in
flight, a later one may finish first; committing it would lose the unfinished earlier one on a crash. So
we commit only up to the lowest unfinished offset of each partition.
"""

from __future__ import annotations

from collections.abc import Hashable


class PartitionOffsets:
    def __init__(self) -> None:
        self._pending: set[int] = set()
        self._highest_done: int | None = None
        self._committed: int | None = None

    def started(self, offset: int) -> None:
        self._pending.add(offset)

    def finished(self, offset: int) -> None:
        self._pending.discard(offset)
        if self._highest_done is None or offset > self._highest_done:
            self._highest_done = offset

    def committable(self) -> int | None:
        """The offset to commit (next to read), or None if nothing new is safe to commit."""
        if self._highest_done is None:
            return None
        safe = min(self._pending) if self._pending else self._highest_done + 1
        if self._committed is not None and safe <= self._committed:
            return None
        return safe

    def committed(self, offset: int) -> None:
        self._committed = offset

    @property
    def in_flight(self) -> int:
        return len(self._pending)


class OffsetTracker:
    """PartitionOffsets for every assigned partition; work on revoked partitions is forgotten."""

    def __init__(self) -> None:
        self._parts: dict[Hashable, PartitionOffsets] = {}

    def started(self, tp: Hashable, offset: int) -> None:
        self._parts.setdefault(tp, PartitionOffsets()).started(offset)

    def finished(self, tp: Hashable, offset: int) -> None:
        part = self._parts.get(tp)
        if part is not None:
            part.finished(offset)

    def committable(self, only: set[Hashable] | None = None) -> dict[Hashable, int]:
        out = {}
        for tp, part in self._parts.items():
            if only is not None and tp not in only:
                continue
            offset = part.committable()
            if offset is not None:
                out[tp] = offset
        return out

    def committed(self, offsets: dict[Hashable, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._parts:
                self._parts[tp].committed(offset)

    def forget(self, tps: set[Hashable]) -> None:
        for tp in tps:
            self._parts.pop(tp, None)
