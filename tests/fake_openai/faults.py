"""Fault settings and the request/token rate limiter of the fake OpenAI server.

Kept apart from the HTTP handlers so a test can change faults while requests are in flight: the server
reads `Faults` afresh for every request, and `Limiter` is shared state behind a lock.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields, replace
from typing import Any

# A fault is applied to one chat completion. Names:
#   ok, hang (sleep hang_s: a client timeout), garbage (HTTP 200 whose body is not JSON),
#   malformed (content is broken JSON), refusal, length, content_filter, empty_field, drop_field,
#   long_hint (a 60-word hint sentence), status:NNN (that HTTP error, e.g. status:500, status:401;
#   status:429 carries retry-after), disconnect (close the connection without an answer).
FAULT_NAMES = {
    "ok", "hang", "garbage", "malformed", "refusal", "length", "content_filter",
    "empty_field", "drop_field", "long_hint", "disconnect",
}


def check_fault(name: str) -> str:
    if name in FAULT_NAMES or (name.startswith("status:") and name[7:].isdigit()):
        return name
    raise ValueError(f"unknown fault {name!r}; known: {sorted(FAULT_NAMES)} or status:NNN")


@dataclass(frozen=True)
class Faults:
    """What the server does. `script` faults are consumed one per chat completion, then `mode` applies."""

    latency_s: float = 0.0
    rpm: int | None = None  # requests per minute; None = unlimited
    tpm: int | None = None  # tokens per minute (prompt estimate + max output tokens)
    rate_window_s: float = 1.0  # limits are enforced over this window in proportion (OpenAI "quantizes")
    retry_after_s: float | None = None  # override the computed retry-after of a 429
    mode: str = "ok"
    script: tuple[str, ...] = ()
    json_schema: bool = True  # False: 400 for response_format json_schema, like servers without it
    api_key: str | None = None  # when set, other bearer tokens get 401
    hang_s: float = 30.0
    batch_delay_s: float = 0.2  # time a batch stays in_progress
    batch_status: str = "completed"  # or "failed", "expired", "cancelled": how batches end
    hint_reply: str | None = None  # fixed text for one-sentence hint requests
    throttle_share: float = 0.0  # share of requests answered 429 at random (after the rpm/tpm limits)
    seed: int | None = None  # seeds the random draws of throttle_share and vary_hints
    vary_hints: bool = False  # hint sentences differ per request unless it asks for temperature 0
    track_callers: bool = False  # log the pid of each call's client process (see calls.py)
    # Caption answers read like real ones (cli/localmodel/corpus.py); this share of grids gets a first answer with
    # one defect (the kind chosen by the grid, from `defects`), and a quality repair of it comes back clean
    # for the share `repairs_fix` of grids (else with the same defect again).
    defect_share: float = 0.0
    defects: tuple[str, ...] = ("medium", "narration", "refusal", "cut_off", "repetition", "length", "markup",
                                "language")
    repairs_fix: float = 1.0

    @staticmethod
    def from_mapping(base: Faults, values: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(Faults)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(names)}")
        if "script" in values:
            values = {**values, "script": tuple(check_fault(s) for s in values["script"])}
        if "defects" in values:
            values = {**values, "defects": tuple(values["defects"])}
        if "mode" in values:
            check_fault(values["mode"])
        return replace(base, **values)


def retry_after_headers(seconds: float) -> dict[str, str]:
    """As OpenAI sends them with a 429: whole seconds, and milliseconds for sub-second waits."""
    return {"retry-after": str(max(1, math.ceil(seconds))), "retry-after-ms": str(int(seconds * 1000))}


@dataclass
class Bucket:
    """A token bucket refilled at `per_minute / 60` per second holding at most one window's worth."""

    per_minute: int
    window_s: float
    level: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute * self.window_s / 60.0)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_minute / 60.0)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (a request above capacity waits for a full bucket)."""
        need = min(amount, self.capacity) - self.level
        return max(0.0, need * 60.0 / self.per_minute)

    def headers(self, kind: str) -> dict[str, str]:
        # OpenAI reports the per-minute limit, what is left of it and when it is whole again.
        remaining = int(self.level / self.capacity * self.per_minute)
        reset = (self.capacity - self.level) * 60.0 / self.per_minute
        return {
            f"x-ratelimit-limit-{kind}": str(self.per_minute),
            f"x-ratelimit-remaining-{kind}": str(remaining),
            f"x-ratelimit-reset-{kind}": f"{reset:.3f}s",
        }


class Limiter:
    """Admits or rejects one request against the request and token buckets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}
        self._config: tuple[int | None, int | None, float] = (None, None, 1.0)
        self.rejected = 0
        self.admitted = 0

    def admit(self, faults: Faults, tokens: int) -> tuple[float | None, dict[str, str]]:
        """Return (retry_after_s or None when admitted, rate-limit headers)."""
        with self._lock:
            self._reconfigure(faults)
            now = time.monotonic()
            want = {"requests": 1.0, "tokens": float(tokens)}
            for bucket in self._buckets.values():
                bucket.refill(now)
            wait = max((b.wait_for(want[k]) for k, b in self._buckets.items()), default=0.0)
            if wait > 0:
                self.rejected += 1
            else:
                self.admitted += 1
                for kind, bucket in self._buckets.items():
                    bucket.level -= min(want[kind], bucket.level)
            headers: dict[str, str] = {}
            for kind, bucket in self._buckets.items():
                headers.update(bucket.headers(kind))
            if wait <= 0:
                return None, headers
            after = faults.retry_after_s if faults.retry_after_s is not None else wait
            return after, headers | retry_after_headers(after)

    def _reconfigure(self, faults: Faults) -> None:
        config = (faults.rpm, faults.tpm, faults.rate_window_s)
        if config == self._config:
            return
        self._config = config
        self._buckets = {}
        if faults.rpm:
            self._buckets["requests"] = Bucket(faults.rpm, faults.rate_window_s)
        if faults.tpm:
            self._buckets["tokens"] = Bucket(faults.tpm, faults.rate_window_s)


class Script:
    """The queue of one-shot faults, consumed in order under a lock (requests arrive concurrently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()

    def load(self, script: tuple[str, ...]) -> None:
        with self._lock:
            self._queue = deque(script)

    def next(self, mode: str) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else mode


class Dice:
    """Random draws for the faults that are random by nature, seeded by `Faults.seed`, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seed: int | None = None
        self._rng = random.Random()

    def throttled(self, faults: Faults) -> bool:
        return faults.throttle_share > 0 and self._draw(faults) < faults.throttle_share

    def variant(self, faults: Faults, body: dict[str, Any]) -> int | None:
        """A number to vary a hint sentence by, or None when the reply should be deterministic."""
        if not faults.vary_hints or body.get("temperature") == 0:
            return None
        return int(self._draw(faults) * 1000)

    def _draw(self, faults: Faults) -> float:
        with self._lock:
            if faults.seed != self._seed:
                self._seed = faults.seed
                self._rng = random.Random(faults.seed)
            return self._rng.random()
