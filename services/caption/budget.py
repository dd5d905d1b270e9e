"""The MIRA_BUDGET_USD gate: once the spend reaches the budget, model calls wait instead of failing.

Waiting (not raising) is what keeps every clip: the caption handler sits on its message, the consumer's
in-flight slots fill, nothing is committed past it, and the work goes on the moment the budget is raised
(`raise_to`, or a new number in MIRA_BUDGET_FILE, re-read while paused) or after a restart with a higher
MIRA_BUDGET_USD. Each call reserves its worst-case cost first, so concurrent calls cannot overshoot.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from services.caption.settings import CaptionSettings

log = logging.getLogger(__name__)


class BudgetGate:
    def __init__(self, limit_usd: float | None, spent_usd: float = 0.0, limit_file: Path | None = None,
                 poll_s: float = 5.0) -> None:
        self._limit = limit_usd
        self._file = limit_file
        self.poll_s = poll_s
        self.spent_usd = spent_usd  # settled cost, including what was spent before this process started
        self.reserved_usd = 0.0  # worst-case cost of calls in flight
        self.paused = False
        self._changed = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: CaptionSettings, spent_usd: float = 0.0) -> BudgetGate:
        return cls(settings.budget_usd, spent_usd, settings.budget_file, settings.budget_poll_s)

    @property
    def limit_usd(self) -> float | None:
        """The budget file's number when the file exists and reads as one, else MIRA_BUDGET_USD."""
        if self._file is not None and self._file.exists():
            try:
                return float(self._file.read_text().strip())
            except ValueError:
                log.warning("budget file %s does not hold a number; using %s", self._file, self._limit)
        return self._limit

    def raise_to(self, limit_usd: float | None) -> None:
        """Change the budget now (None removes the cap); paused calls re-check at once."""
        self._limit = limit_usd
        self._changed.set()

    async def reserve(self, estimate_usd: float) -> None:
        """Wait until `estimate_usd` more fits under the budget, then hold it for the call."""
        while not self._fits(estimate_usd):
            if not self.paused:
                self.paused = True
                log.warning("budget reached: $%.4f spent of $%.2f; captioning paused until the budget is "
                            "raised (MIRA_BUDGET_USD or MIRA_BUDGET_FILE)", self.spent_usd, self.limit_usd or 0)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), self.poll_s)
            except TimeoutError:
                pass  # re-read the budget file
        if self.paused:
            self.paused = False
            log.warning("budget raised to $%.2f; captioning resumed", self.limit_usd or 0)
        self.reserved_usd += estimate_usd

    def observe_spent(self, recorded_usd: float) -> None:
        """What every caption replica's records have cost so far: with several replicas, each one's own tally
        misses the others' spend, so the stored total (when higher) is what the cap holds against."""
        if recorded_usd > self.spent_usd:
            self.spent_usd = recorded_usd
            self._changed.set()

    @property
    def capped(self) -> bool:
        return self._limit is not None or self._file is not None

    def settle(self, estimate_usd: float, actual_usd: float) -> None:
        """Swap a reservation for the real cost (0 when the call was not billed)."""
        self.reserved_usd = max(0.0, self.reserved_usd - estimate_usd)
        self.spent_usd += actual_usd
        self._changed.set()

    def _fits(self, estimate_usd: float) -> bool:
        limit = self.limit_usd
        if limit is None:
            return True
        if self.reserved_usd == 0 and self.spent_usd < limit and estimate_usd > limit:
            return True  # a budget below one call's worst case still lets calls through one at a time
        return self.spent_usd + self.reserved_usd + estimate_usd <= limit
