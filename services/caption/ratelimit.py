"""Client-side rate limiting and the retry policy for model calls, so a million clips cause no 429 storm.

The SDK's own retries are off (max_retries=0): every attempt passes through here, so the request and token
budgets count what is really sent. Requests are paced by token buckets (requests and tokens per minute,
learned down from the server's x-ratelimit-* headers), a 429 pauses every sender until its retry-after,
and the number of requests in flight follows the observed latency (Little's law: rate x latency) between
configured bounds and shrinks on 429s (concurrency.py). 408/409/429/5xx, connection errors, timeouts and
unreadable bodies are retried with exponential backoff and jitter; other statuses are not retried (errors.py
says what they mean). A call that still fails after MIRA_CAPTION_MAX_RETRIES retries says the endpoint is
unavailable: the runtime waits the outage out, pausing the stage, instead of dead-lettering the clip.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai
from openai._legacy_response import LegacyAPIResponse

from services.caption import request
from services.caption.concurrency import InFlightController
from services.caption.errors import log_retry, retryable
from services.caption.settings import CaptionSettings
from shared import modelcall
from shared.modelcall import describe
from shared.runtime.errors import Unavailable
from shared.runtime.outage import CAPTION_ENDPOINT

log = logging.getLogger(__name__)
T = TypeVar("T")
BURST_S = 0.5  # a bucket holds this many seconds of its rate: a burst after idling stays short
# Connections beyond the in-flight cap: a connection being closed or set up beside every request out.
SPARE_CONNECTIONS = 16
# A server-given retry-after is waited out plus a little jitter (a tenth of a second and a quarter of the
# hint), so replicas told the same wait do not all return in the same instant.
HINT_JITTER_S = 0.1
HINT_JITTER_SHARE = 0.25
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OpenAI reset header: "1s", "6m0s", "20ms", "1h2m3.5s"; None when unreadable."""
    if not text:
        return None
    parts = _DURATION.findall(text.strip())
    if not parts:
        return None
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * unit[u] for n, u in parts)


def retry_after(headers: httpx2.Headers) -> float | None:
    """The server's wait hint: retry-after-ms (OpenAI), else retry-after in seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


@dataclass
class Bucket:
    """Refills at `per_minute / 60` per second up to half a second's worth, so that no one-second window
    (OpenAI enforces limits over short windows) sees more than 1.5 seconds' worth; big requests may
    take it into debt."""

    per_minute: float
    level: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 60.0 * BURST_S)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_minute / 60.0)
        self.stamp = now

    def wait(self, amount: float) -> float:
        return max(0.0, (min(amount, self.capacity) - self.level) * 60.0 / self.per_minute)


class Slots:
    """A semaphore whose size can change while tasks wait on it."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            try:
                await self._cond.wait_for(lambda: self.used < self.limit)
            except asyncio.CancelledError:
                self._wake_free()  # a wake-up this waiter was given passes to the next one
                raise
            self.used += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.used -= 1
            self._wake_free()

    def _wake_free(self) -> None:
        # As many waiters as there are free slots, not all of them: with thousands waiting after a cut,
        # waking every one on every release would cost O(n) per answer.
        if (free := self.limit - self.used) > 0:
            self._cond.notify(free)

    def resize(self, limit: int) -> None:
        grow = limit > self.limit
        self.limit = limit
        if grow:  # wake waiters from a task so resize stays synchronous
            asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._cond:
            self._wake_free()


@dataclass
class LimiterStats:
    sent: int = 0
    paced: int = 0  # requests held back by the request or token budget (or a 429 pause) before going
    rate_limited: int = 0
    retried: int = 0
    failed: int = 0


class RateLimiter:
    def __init__(self, settings: CaptionSettings) -> None:
        self.s = settings
        self.rpm = settings.caption_rpm * settings.caption_rate_headroom
        self.tpm = settings.caption_tpm * settings.caption_rate_headroom
        self.requests, self.tokens = Bucket(self.rpm), Bucket(self.tpm)
        self.requests.level = self.requests.capacity
        self.tokens.level = self.tokens.capacity
        self.paused_until = 0.0
        self.control = InFlightController(settings.caption_min_in_flight, settings.caption_max_in_flight,
                                          self.rpm / 60.0)
        # Until a latency is seen only the rate budget bounds concurrency, so the first calls are not held.
        self.slots = Slots(self.control.limit)
        self.stats = LimiterStats()
        self._gate = asyncio.Lock()  # FIFO admission: first come, first sent
        self._rng = random.Random()

    @property
    def suggested_in_flight(self) -> int:
        """Concurrency that keeps the request budget busy at the observed latency (for the consumer too)."""
        return self.slots.limit

    @property
    def latency_s(self) -> float | None:
        return self.control.latency_s

    async def call(self, send: Callable[[bool], Awaitable[LegacyAPIResponse[T]]],
                   tokens: int) -> LegacyAPIResponse[T]:
        """Send (retrying as the policy says) and return a response whose body is valid JSON. `send` is told
        whether the request was held back first (no free slot, paced by the rate budget, or a retry)."""
        last: BaseException | None = None
        delay = 0.0
        for attempt in range(self.s.caption_max_retries + 1):
            if attempt:
                self.stats.retried += 1
                await asyncio.sleep(delay)
            crowded = self.slots.used >= self.slots.limit
            async with self.slots:
                paced = await self._admit(tokens)
                started = time.monotonic()
                try:
                    raw = await send(bool(attempt) or crowded or paced)
                    raw.http_response.json()  # an unreadable body is a server fault: retried below
                except (openai.APIError, json.JSONDecodeError) as exc:
                    if isinstance(exc, openai.APIStatusError):
                        self._observe_headers(exc.response.headers, tokens)
                    if not retryable(exc):  # the caller maps it (fail_fast) after its own checks
                        self.stats.failed += 1
                        raise
                    last, delay = exc, self._backoff(exc, attempt)
                    log_retry(exc, attempt + 1, delay)
                    continue
            self._observe_headers(raw.headers, tokens)
            self._observe_latency(time.monotonic() - started)
            return raw
        self.stats.failed += 1
        raise Unavailable(CAPTION_ENDPOINT, f"model call failed {self.s.caption_max_retries + 1} times: "
                                            f"{describe(last)}")

    def settle(self, estimated: int, actual: int) -> None:
        """Charge what a call used beyond its estimate. Nothing is refunded below it: OpenAI counts a
        request's prompt estimate plus its output limit when it arrives, whatever it then uses."""
        self.tokens.level -= max(0, actual - estimated)

    async def _admit(self, tokens: int) -> bool:
        """Take a request's share of the rate budget, waiting for it; whether it had to wait."""
        async with self._gate:
            held = False
            while True:
                now = time.monotonic()
                self.requests.refill(now)
                self.tokens.refill(now)
                wait = max(self.paused_until - now, self.requests.wait(1), self.tokens.wait(tokens))
                if wait <= 0:
                    self.requests.level -= 1
                    self.tokens.level -= tokens
                    self.stats.sent += 1
                    self.stats.paced += held
                    return held
                held = True
                await asyncio.sleep(wait)

    def _backoff(self, exc: BaseException, attempt: int) -> float:
        hinted = retry_after(exc.response.headers) if isinstance(exc, openai.APIStatusError) else None
        if isinstance(exc, openai.RateLimitError):
            self.stats.rate_limited += 1
            if self.control.rate_limited(time.monotonic(), self.slots.used):
                self._resize()
            pause = hinted if hinted is not None else self.s.caption_backoff_base_s
            # Everyone waits out a 429, not just this request: that is what stops a storm.
            self.paused_until = max(self.paused_until, time.monotonic() + pause)
        if hinted is not None:
            jitter = HINT_JITTER_S + hinted * HINT_JITTER_SHARE
            return min(self.s.caption_backoff_max_s, hinted) + self._rng.uniform(0, jitter)
        cap = min(self.s.caption_backoff_max_s, self.s.caption_backoff_base_s * 2 ** attempt)
        return self._rng.uniform(cap / 2, cap)

    def _observe_headers(self, headers: httpx2.Headers, tokens: int) -> None:
        for kind, bucket, configured, need in (("requests", self.requests, self.rpm, 1),
                                               ("tokens", self.tokens, self.tpm, tokens)):
            limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
            if not limit:
                continue
            bucket.per_minute = min(configured, limit * self.s.caption_rate_headroom)  # never plan above it
            if kind == "requests":
                self.control.set_rate(bucket.per_minute / 60.0)
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}")) or 0.0
            if remaining is not None and remaining < need:
                # Reset is when the whole limit is back; the next request only needs `need` of it.
                wait = min(reset, (need - remaining) * 60.0 / limit)
                self.paused_until = max(self.paused_until, time.monotonic() + wait)
        self._resize()

    def _observe_latency(self, seconds: float) -> None:
        self.control.answered(seconds)
        self._resize()

    def _resize(self) -> None:
        self.slots.resize(self.control.limit)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def connection_limits(settings: CaptionSettings) -> httpx2.Limits:
    """A connection for every request the limiter may let out (HTTP/1.1: one request per connection), so
    the pool never queues what the controller meant to send: the SDK's default stops at 1,000."""
    most = settings.caption_max_in_flight + SPARE_CONNECTIONS
    return httpx2.Limits(max_connections=most, max_keepalive_connections=most)


def caption_client(settings: CaptionSettings, http_client: Any = None) -> openai.AsyncOpenAI:
    """SDK retries off (this module owns them), our timeout; aiohttp by default (less CPU per call), its pool
    sized to the in-flight cap, dropping each request's image data URL once the request is serialized."""
    http = http_client or openai.DefaultAioHttpClient(limits=connection_limits(settings),
                                                      event_hooks={"request": [request.drop_sent_images]})
    return modelcall.client(settings.openai_api_key, settings.openai_base_url, settings.caption_timeout_s,
                            max_retries=0, http_client=http)
