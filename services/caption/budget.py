"""The MIRA_BUDGET_USD gate: once the spend reaches the budget, model calls wait instead of failing.

Waiting (not raising) is what keeps every clip: the caption handler sits on its message, the consumer's
in-flight slots fill, nothing is committed past it, and the work goes on the moment the budget is raised
(`raise_to`, or a new number in MIRA_BUDGET_FILE, re-read while paused) or after a restart with a higher
MIRA_BUDGET_USD. Each call reserves its worst-case cost first and swaps it for the real cost after. In the
stage the tally lives in the record store (shared.store.spend), one row for every caption replica, so all
of them together stay under the budget; without a store it is this process's own. Calls that end together
settle in one trip (shared/coalesce.py): an uncapped budget still learns every call's cost, for a cap set later.
A settlement the store could not take because it was down is kept and made once it answers
(shared/writebehind.py): the call's answer is never lost with it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from services.caption.settings import CaptionSettings
from shared.coalesce import Coalescer
from shared.runtime import outage
from shared.store import spend
from shared.writebehind import WriteBehind

log = logging.getLogger(__name__)
NANO = spend.NANO


@dataclass(frozen=True)
class Reservation:
    nano: int  # worst-case cost held for one call, released by `settle`
    waited: bool = False  # the budget had no room at first: the call waited for it


class Tally(Protocol):
    def reserve(self, amount: int, limit: int | None) -> tuple[bool, int, int]: ...
    def settle(self, reserved: int, spent: int) -> tuple[int, int]: ...


class LocalTally:
    """This process's spend only (tests, one-off tools)."""

    def __init__(self, spent: int = 0) -> None:
        self.spent, self.reserved = spent, 0
        self._lock = threading.Lock()

    def reserve(self, amount: int, limit: int | None) -> tuple[bool, int, int]:
        with self._lock:
            fits = limit is None or self.spent + self.reserved + amount <= limit or (
                amount > limit and self.reserved == 0 and self.spent < limit)
            self.reserved += amount if fits else 0
            return fits, self.spent, self.reserved

    def settle(self, reserved: int, spent: int) -> tuple[int, int]:
        with self._lock:
            self.reserved -= reserved
            self.spent += spent
            return self.spent, self.reserved


class StoreTally:
    """The tally every caption replica on one record store shares."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def reserve(self, amount: int, limit: int | None) -> tuple[bool, int, int]:
        return spend.reserve(self.engine, amount, limit)

    def settle(self, reserved: int, spent: int) -> tuple[int, int]:
        return spend.settle(self.engine, reserved, spent)


class BudgetGate:
    def __init__(self, limit_usd: float | None, spent_usd: float = 0.0, limit_file: Path | None = None,
                 poll_s: float = 5.0, tally: Tally | None = None) -> None:
        self._limit = limit_usd
        self._file = limit_file
        self.poll_s = poll_s
        self.tally = tally or LocalTally(round(spent_usd * NANO))
        self._spent, self._reserved = round(spent_usd * NANO), 0  # as last seen in the tally
        self.paused = False
        self.refusals = 0  # reservations the budget had no room for (each re-check while paused counts)
        self._changed = asyncio.Event()
        self._settle: Coalescer[tuple[int, int], tuple[int, int]] = Coalescer(self._settle_all, asyncio.to_thread)
        self._unsettled: WriteBehind[tuple[int, int]] = WriteBehind(lambda _key, s: self.tally.settle(*s),
                                                                    "a budget settlement")
        self._settlements = 0

    @classmethod
    def from_settings(cls, settings: CaptionSettings, spent_usd: float = 0.0,
                      tally: Tally | None = None) -> BudgetGate:
        return cls(settings.budget_usd, spent_usd, settings.budget_file, settings.budget_poll_s, tally)

    @property
    def spent_usd(self) -> float:
        """Settled cost (every replica's, with a shared tally), as of this gate's last look."""
        return self._spent / NANO

    @property
    def reserved_usd(self) -> float:
        """Worst-case cost of calls in flight, as of this gate's last look."""
        return self._reserved / NANO

    @property
    def limit_usd(self) -> float | None:
        """The budget file's number when the file exists and reads as one, else MIRA_BUDGET_USD."""
        if self._file is not None and self._file.exists():
            try:
                return float(self._file.read_text().strip())
            except ValueError:
                log.warning("budget file %s does not hold a number; using %s", self._file, self._limit)
        return self._limit

    @property
    def capped(self) -> bool:
        return self._limit is not None or self._file is not None

    async def aclose(self) -> None:
        await self._unsettled.aclose()

    def raise_to(self, limit_usd: float | None) -> None:
        """Change the budget now (None removes the cap); paused calls re-check at once."""
        self._limit = limit_usd
        self._changed.set()

    async def reserve(self, estimate_usd: float) -> Reservation:
        """Wait until `estimate_usd` more fits under the budget, then hold it for the call."""
        if not self.capped:  # nothing to hold it against: the tally learns the real cost when the call settles
            return Reservation(0)
        amount = math.ceil(estimate_usd * NANO)
        waited = False
        while True:
            limit = self.limit_usd
            self._changed.clear()
            held, self._spent, self._reserved = await asyncio.to_thread(
                self.tally.reserve, amount, None if limit is None else math.floor(limit * NANO))
            if held:
                break
            self.refusals += 1
            waited = True
            if not self.paused:
                self.paused = True
                log.warning("budget reached: $%.4f spent of $%.2f; captioning paused until the budget is "
                            "raised (MIRA_BUDGET_USD or MIRA_BUDGET_FILE)", self.spent_usd, limit or 0)
            try:
                await asyncio.wait_for(self._changed.wait(), self.poll_s)
            except TimeoutError:
                pass  # look again: other replicas settle, the budget file may change
        if self.paused:
            self.paused = False
            log.warning("budget raised to $%.2f; captioning resumed", self.limit_usd or 0)
        return Reservation(amount, waited)

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Swap a reservation for the real cost (0 when the call was not billed)."""
        if reservation.nano == 0 and actual_usd == 0:
            return  # nothing held, nothing spent: no trip to the tally
        settlement = (reservation.nano, round(actual_usd * NANO))
        try:
            self._spent, self._reserved = await self._settle(settlement)
        except Exception as exc:
            if outage.dependency_down(exc) is None:
                raise
            self._settlements += 1
            await self._unsettled.write(f"settlement-{self._settlements}", settlement)
        self._changed.set()

    def _settle_all(self, settlements: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Settlements add up: the calls that end together are one trip to the tally."""
        after = self.tally.settle(sum(held for held, _ in settlements), sum(spent for _, spent in settlements))
        return [after] * len(settlements)
