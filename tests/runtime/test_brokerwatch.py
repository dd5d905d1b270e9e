"""A broker that stays away for a while: the watch keeps readiness off and logs a line at 0, 1, 3, 7, 15 s,
then one per MAX_LINE_S, yet finds the broker back within MAX_CHECK_S of its return. Before, it checked only
when it logged, so a broker back after a 30 s outage was noticed up to 30 s later (readiness off and
mira_dependency_up 0 all that time; seen in tests/outages/test_broker_outage.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from shared.runtime import brokerwatch
from shared.runtime.brokerwatch import BrokerWatch

SCALE = 0.05  # the watch's seconds, shortened: a 100 s outage takes 5 s here
OUTAGE_S = 100 * SCALE


async def test_a_broker_away_for_long_is_found_back_within_seconds_in_a_few_lines(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("FIRST_CHECK_S", "MAX_CHECK_S", "MAX_LINE_S"):
        monkeypatch.setattr(brokerwatch, name, getattr(brokerwatch, name) * SCALE)
    caplog.set_level(logging.INFO, logger=brokerwatch.__name__)
    back_at: float | None = None

    async def probe() -> None:
        if back_at is None or time.monotonic() < back_at:
            raise ConnectionRefusedError("Unable to get cluster metadata over all known brokers")

    watch = BrokerWatch("test", lambda: None)
    watch.connected()
    task = asyncio.create_task(watch.run(probe))
    try:
        watch.filter(logging.LogRecord("aiokafka", logging.WARNING, __file__, 1, "Unable connect to node", None, None))
        await until(lambda: not watch.reachable)
        await asyncio.sleep(OUTAGE_S)
        back_at = time.monotonic()
        await until(lambda: watch.reachable)
        found_after = time.monotonic() - back_at
    finally:
        task.cancel()
    assert found_after < 10 * SCALE, found_after / SCALE  # before: 21 s here (checks at 91 and 121 s), up to 30
    lines = [r.getMessage() for r in caplog.records if "broker unreachable" in r.getMessage()]
    # At 0, 1, 3, 7, 17, 37, 67 and 97 s of the 100 (fewer on a busy machine); a line per check would be 23.
    assert 5 <= len(lines) <= 8, lines
    assert "broker reachable again after" in caplog.records[-1].getMessage()


async def until(predicate: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
