"""Shots to clips, MiraData's way: a shot shorter than MIRA_CLIP_MIN_S is dropped (with that reason), one up
to MIRA_CLIP_MAX_S is one clip, a longer one is cut into near-equal pieces no longer than it.

A function of the boundaries found so far and how far they are final, so a resumed scan derives exactly the
clips its first attempt published. A shot still open once it is twice MIRA_CLIP_MAX_S long yields a piece of
MIRA_CLIP_MAX_S from its start, so one endless shot streams clips too; what is left when it ends (between
one and two MIRA_CLIP_MAX_S) is shared by two near-equal pieces.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

EPS = 1e-6


@dataclass(frozen=True)
class Piece:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Dropped:
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class Lengths:
    min_s: float
    max_s: float

    def clips(self, bounds: list[float], until: float, end: float | None) -> tuple[list[Piece], list[Dropped]]:
        """Clips and dropped shots decided by `bounds` (boundary times, ascending), final up to `until`;
        `end`: the video's end once the scan is over (None while it goes on)."""
        edges = [0.0, *bounds, *([end] if end is not None else [])]
        pieces: list[Piece] = []
        dropped: list[Dropped] = []
        for a, b in itertools.pairwise(edges):
            if b - a < self.min_s - EPS:
                dropped.append(Dropped(_r(a), _r(b), f"shorter than MIRA_CLIP_MIN_S ({self.min_s:g} s)"))
            else:
                pieces += self._shot(a, b, closed=True)
        if end is None:
            pieces += self._shot(edges[-1], until, closed=False)
        return pieces, dropped

    def _shot(self, a: float, b: float, closed: bool) -> list[Piece]:
        out = []
        while b - a >= 2 * self.max_s - EPS:  # streamed while open; the same pieces once it is closed
            out.append(Piece(_r(a), _r(a + self.max_s)))
            a += self.max_s
        if closed and b - a > EPS:
            n = max(1, math.ceil((b - a) / self.max_s - EPS))
            out += [Piece(_r(a + (b - a) * k / n), _r(a + (b - a) * (k + 1) / n)) for k in range(n)]
        return out


def _r(t: float) -> float:
    return round(t, 3)
