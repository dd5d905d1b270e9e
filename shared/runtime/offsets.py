"""Which offsets are safe to commit when messages finish out of order, and across rebalances.

Kafka commits one offset per partition meaning "everything before this is done". With N messages in
flight, a later one may finish first; committing it would lose the unfinished earlier one on a crash. So
we commit only up to the lowest unfinished offset of each partition.

A partition that is revoked and later assigned again starts a new assignment generation. Work started
under an older generation may still finish afterwards (a handler that outlived its revocation); its
finish is ignored, so it can never move the new owner's commit past messages that are still running.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import count


class PartitionOffsets:
    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
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
    """PartitionOffsets for every assigned partition; revoking one forgets it and ends its generation."""

    def __init__(self) -> None:
        self._parts: dict[Hashable, PartitionOffsets] = {}
        self._generations = count(1)

    def started(self, tp: Hashable, offset: int) -> int:
        """Track `offset`; returns the generation its finish must carry to count."""
        part = self._parts.get(tp)
        if part is None:
            part = self._parts[tp] = PartitionOffsets(next(self._generations))
        part.started(offset)
        return part.generation

    def finished(self, tp: Hashable, offset: int, generation: int) -> bool:
        """Mark `offset` done; False (and ignored) when it was started before `tp` was last revoked."""
        part = self._parts.get(tp)
        if part is None or part.generation != generation:
            return False
        part.finished(offset)
        return True

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
