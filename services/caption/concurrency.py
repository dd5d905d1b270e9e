"""How many model requests one caption replica keeps out at once: what the rate budget needs at the observed
latency (Little's law), cut back when the server answers 429, capped by MIRA_CAPTION_MAX_IN_FLIGHT.

- Little's law: to send `rate` requests a second when each takes `latency` seconds, about rate x latency
  must be out at once. The latency is smoothed as TCP smooths round trips (RFC 6298: gains 1/8 and 1/4 there,
  a little faster here), and the plan covers the longer of 1.5 average latencies and the average plus four
  deviations, so a slow spell raises the bound before the average moves. When latency falls the target
  falls with it; when the rate budget is learned down from the server's headers, likewise.
- AIMD on 429s: a window starts at the cap (no congestion seen) and is cut to CUT_FACTOR of the current
  limit on a 429, at most once per latency (one storm counts once, as TCP cuts once per round trip); each
  answer then gives back a share of the target, so it regains RECOVER_SHARE of the target per latency.
- Before the first answer no latency is known: only the cap and the rate budget bound what goes out, so
  requests leave at the budgeted rate and, one latency later, exactly rate x latency are out.

Pure logic: no I/O, the clock is passed in. The rate limiter (ratelimit.py) feeds it and sizes its slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LATENCY_GAIN = 0.2
DEVIATION_GAIN = 0.25
PLAN_LATENCY_FACTOR = 1.5
PLAN_DEVIATIONS = 4
SPARE_IN_FLIGHT = 1  # one request beyond Little's law, so the pipe never runs dry between answers
CUT_FACTOR = 0.7  # a 429 cuts the window to this share of the limit (CUBIC's beta)
RECOVER_SHARE = 0.125  # of the Little's-law target regained per latency after a cut
CUT_SPACING_S = 1.0  # before a latency is known, cuts are at least this far apart


@dataclass
class InFlightController:
    floor: int  # MIRA_CAPTION_MIN_IN_FLIGHT
    cap: int  # MIRA_CAPTION_MAX_IN_FLIGHT
    rate_per_s: float  # requests per second the budget allows (planned, after headroom)
    latency_s: float | None = None  # smoothed latency of successful calls
    latency_dev_s: float = 0.0
    window: float = 0.0  # the AIMD window; set to the cap at start
    cuts: int = 0
    _last_cut: float = -math.inf

    def __post_init__(self) -> None:
        self.window = self.window or float(self.cap)

    @property
    def target(self) -> int:
        """Requests out that keep the rate budget busy at the observed latency (the cap before any answer)."""
        if self.latency_s is None:
            return self.cap
        planned = max(PLAN_LATENCY_FACTOR * self.latency_s, self.latency_s + PLAN_DEVIATIONS * self.latency_dev_s)
        return math.ceil(self.rate_per_s * planned) + SPARE_IN_FLIGHT

    @property
    def limit(self) -> int:
        return max(self.floor, min(self.cap, self.target, math.floor(self.window)))

    def set_rate(self, per_s: float) -> None:
        self.rate_per_s = per_s

    def answered(self, seconds: float) -> None:
        """A successful call took `seconds`: follow the latency, and regain window after a cut."""
        if self.latency_s is None:
            self.latency_s, self.latency_dev_s = seconds, seconds / 2  # RFC 6298's first estimate
        else:
            self.latency_dev_s += DEVIATION_GAIN * (abs(seconds - self.latency_s) - self.latency_dev_s)
            self.latency_s += LATENCY_GAIN * (seconds - self.latency_s)
        if self.window < self.cap:
            # About `window` answers arrive per latency: each gives back its share of RECOVER_SHARE x target.
            self.window = min(float(self.cap), self.window + RECOVER_SHARE * self.target / max(self.window, 1.0))

    def rate_limited(self, now: float, out: int) -> bool:
        """The server answered 429 at `now` with `out` requests out: cut the window to a share of what was
        out (or of the limit, if less), once per latency; whether it was cut."""
        spacing = self.latency_s if self.latency_s is not None else CUT_SPACING_S
        if now - self._last_cut < spacing:
            return False
        self._last_cut = now
        self.window = max(float(self.floor), CUT_FACTOR * min(self.limit, max(out, 1)))
        self.cuts += 1
        return True
