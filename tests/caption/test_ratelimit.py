"""The client-side rate limiter against a server that enforces requests and tokens per minute.

Assertions are on what the server saw (arrival times, 429s) and the limiter's counters, never on how long a
run took, so a busy machine cannot make them fail.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from services.caption.captioner import Captioner
from services.caption.ratelimit import parse_duration
from tests.caption.conftest import GRID_H, GRID_W, caption_settings
from tests.fake_openai import FakeOpenAI


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("20ms", 0.02), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("0.250s", 0.25), ("", None), ("soon", None),
])
def test_reset_headers_parse(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


async def _caption_many(cap: Captioner, grid: bytes, n: int) -> None:
    outcomes = await asyncio.gather(*[cap.caption(grid, GRID_W, GRID_H, f"clip {i}") for i in range(n)])
    assert [o.status for o in outcomes] == ["success"] * n  # nothing lost


async def test_requests_are_paced_under_the_limit_without_429s(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(rpm=600)  # enforced per second, as OpenAI does: 10 per second
    cap = Captioner(caption_settings(fake_openai, caption_rpm=600, caption_tpm=10_000_000))
    try:
        await _caption_many(cap, grid, 30)
    finally:
        await cap.aclose()
    assert fake_openai.limiter.rejected == 0 and cap.limiter.stats.sent == 30  # no 429, no retry
    # Half a second's worth (5) may go at once; most of the rest had to wait for the bucket.
    assert cap.limiter.stats.paced >= 20


async def _until_rested(cap: Captioner) -> None:
    """Until the limiter's buckets are full again and no 429 pause is left (the first wave is behind it)."""
    lim = cap.limiter
    async with asyncio.timeout(10):
        while True:
            now = time.monotonic()
            lim.requests.refill(now)
            lim.tokens.refill(now)
            if now >= lim.paused_until and lim.requests.level >= lim.requests.capacity \
                    and lim.tokens.level >= lim.tokens.capacity:
                return
            await asyncio.sleep(0.02)


async def test_server_limit_below_ours_is_learned_from_headers(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(rpm=600, tpm=3_000_000)
    cap = Captioner(caption_settings(fake_openai, caption_rpm=6000, caption_tpm=6_000_000, caption_max_retries=8))
    try:
        await _caption_many(cap, grid, 30)  # the first burst meets 429s, then the budget is learned
        assert cap.limiter.requests.per_minute == pytest.approx(600 * 0.97)
        assert cap.limiter.tokens.per_minute == pytest.approx(3_000_000 * 0.97)
        first_wave = fake_openai.limiter.rejected
        assert first_wave > 0 and cap.limiter.stats.rate_limited == first_wave
        await _until_rested(cap)
        await _caption_many(cap, grid, 20)
    finally:
        await cap.aclose()
    assert fake_openai.limiter.rejected == first_wave  # the second wave met no 429


async def test_token_budget_paces_big_requests(fake_openai: FakeOpenAI, grid: bytes) -> None:
    # Each request counts ~2,000 tokens (prompt, 595 image tokens, 1,000 output limit): 60k/min is 30/min.
    fake_openai.configure(tpm=60_000)
    cap = Captioner(caption_settings(fake_openai, caption_tpm=60_000))
    try:
        await _caption_many(cap, grid, 3)
    finally:
        await cap.aclose()
    assert fake_openai.limiter.rejected == 0
    assert cap.limiter.stats.paced == 2  # the first went at once; each later one waited for tokens
    gaps = [b.at - a.at for a, b in itertools.pairwise(fake_openai.requests)]
    assert all(gap >= 1.5 for gap in gaps)  # about 2 s of token budget apart


async def test_in_flight_bound_follows_latency(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(latency_s=0.3)
    cap = Captioner(caption_settings(fake_openai, caption_rpm=1200, caption_tpm=10_000_000))
    peak = limit = 0

    async def watch() -> None:
        nonlocal peak, limit
        while True:  # the bound adapts as latency varies: compare with the highest it allowed
            peak = max(peak, cap.limiter.slots.used)
            limit = max(limit, cap.limiter.suggested_in_flight)
            await asyncio.sleep(0.005)

    try:
        await _caption_many(cap, grid, 10)  # until a latency is seen, only the rate budget bounds it
        # 19.4 requests/s (97% of 1200/min) at 0.3 s each need about 6 in flight; the bound plans for
        # at least 1.5 times the latency plus one, more while the latency varies (services/caption/
        # concurrency.py: up to the average plus four deviations, which a loaded machine widens). It has
        # left the cap (2048) it starts from before any answer.
        bound = cap.limiter.suggested_in_flight
        assert 9 <= bound <= 60
        watcher = asyncio.create_task(watch())
        await _caption_many(cap, grid, 40)
        watcher.cancel()
    finally:
        await cap.aclose()
    # Enough in flight to keep the request budget busy (about 6 at once; a bound stuck at the first
    # calls' 3 would starve it), never more than the bound allowed.
    assert 4 <= peak <= limit


async def test_backoff_grows_exponentially_with_jitter(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(mode="status:500")
    cap = Captioner(caption_settings(fake_openai, caption_backoff_base_s=0.05, caption_backoff_max_s=0.3,
                                     caption_max_retries=5))
    try:
        with pytest.raises(Exception, match="model call failed 6 times"):
            await cap.caption(grid, GRID_W, GRID_H, None)
    finally:
        await cap.aclose()
    times = [r.at for r in fake_openai.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    caps = [0.05, 0.1, 0.2, 0.3, 0.3]  # base * 2^n, capped at MIRA_CAPTION_BACKOFF_MAX_S
    for gap, cap_s in zip(gaps, caps, strict=True):
        assert gap >= cap_s / 2 - 0.01  # jitter draws from [cap / 2, cap]; a loaded machine only adds
    assert sum(gaps[3:]) > 0.3  # the later waits grew to the cap
    assert cap.limiter.stats.retried == 5 and cap.limiter.stats.failed == 1
