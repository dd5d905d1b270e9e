"""Shot boundaries from a stream of small decoded frames: hard cuts, fades through black and dissolves.

Every frame arrives as a tiny YUV picture (services/split/frames.py); three tests run over a sliding window:
- cut: the change from one frame to the next stands out against its neighbours' (an adaptive ratio, so fast
  camera motion, which changes every frame a lot, is no cut), and the second before it still differs from
  the second after it frame for frame: a flash, or a subject passing close to the lens, ends with the same
  picture it interrupted, a cut does not;
- fade: a run of dark frames between two pictures that differ; the boundary is the run's middle;
- dissolve: a frame that is the average of the frames a window before and after it, while those two differ
  (score = their difference minus twice the frame's distance from their average): true in the middle of a
  cross-fade, false for motion (the average of two shifted pictures is a double exposure), cuts and flashes.
  Two windows (0.6 s and 1.2 s each side) cover dissolves up to about 2.4 s.
Decisions lag the newest frame by a few seconds (`lag_s`), so each boundary is final when reported, and
memory holds only that window (flat in the video's length). Times are the frames' own timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["cut", "fade", "dissolve"]
VERSION = 1  # bump when the same frames can give other boundaries: stored cut lists are then found anew


@dataclass(frozen=True)
class Boundary:
    time_s: float  # where one shot ends and the next begins (a gradual transition's middle)
    kind: Kind
    start_s: float  # the transition's extent: equal to time_s for a cut
    end_s: float


@dataclass(frozen=True)
class Tuning:
    cut_min: float = 10.0  # mean absolute change (0-255) a cut needs at least
    cut_ratio: float = 3.0  # ... and this many times its neighbours' mean change
    cut_keep: float = 0.4  # the second before and after must still differ by this share of the cut's change
    dark_luma: float = 28.0  # a frame with mean luma below this is black (limited range black is 16)
    fade_min: float = 10.0  # pictures around a dark run must differ this much for a fade
    dissolve_min: float = 6.0
    dissolve_ratio: float = 2.5  # dissolve score over the median score of the seconds around it
    dissolve_contrast: float = 1.5  # its two pictures' difference over each one's with a window further out
    min_gap_s: float = 0.5  # boundaries closer than this to the previous one are the same transition


@dataclass(frozen=True)
class _Seconds:
    neighbours: float = 0.12  # each side, for a cut's adaptive baseline
    context: float = 1.0  # before and after a cut candidate, for the flash and occlusion test
    windows: tuple[float, ...] = (0.6, 1.2)  # dissolve windows, each side
    baseline: float = 2.5  # each side, for the dissolve score's median
    around_dark: float = 1.5  # before and after a dark run, for the fade test


SECONDS = _Seconds()


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


class ShotDetector:
    """push() every frame in order, then finish(); each returns the boundaries it decided, in time order."""

    def __init__(self, fps: float, tuning: Tuning = Tuning()) -> None:
        self.tuning = tuning
        frames = lambda s: max(1, round(s * fps))
        self.k, self.ctx = max(2, frames(SECONDS.neighbours)), max(2, frames(SECONDS.context))
        self.windows = sorted({frames(w) for w in SECONDS.windows})
        self.base, self.around = frames(SECONDS.baseline), frames(SECONDS.around_dark)
        self.lag = max(self.ctx, self.base + self.windows[-1], self.around, self.k) + 1
        self.keep = self.lag + max(self.ctx, self.base, self.around, self.windows[-1]) + 2
        self.lag_s = self.lag / fps
        self.n = 0  # frames pushed
        self.first = 0  # frame number of the oldest frame still held
        self.feats: list[np.ndarray] = []
        self.times: list[float] = []
        self.dark: list[bool] = []
        self.change: list[float] = []  # change[i]: from frame i - 1 to frame i
        self.score: list[float] = []  # best dissolve score centred on frame i (nan: not computable)
        self.scale: list[int] = []  # the window that gave it
        self.evaluated = 0  # frames decided so far
        self.run_start: float | None = None  # time of the first frame of the dark run in progress
        self.darkest = (np.inf, 0.0, 0.0)  # the run's lowest mean luma, and the first and last time near it
        self.before_dark: np.ndarray | None = None  # the picture a while before that run
        self.last_s = -np.inf

    @property
    def final_until(self) -> float:
        """Every boundary before this time has been reported."""
        if self.evaluated == 0:
            return 0.0
        decided = self.times[self.evaluated - 1 - self.first]
        return decided if self.run_start is None else min(decided, self.run_start)

    def push(self, time_s: float, picture: np.ndarray) -> list[Boundary]:
        f = picture.astype(np.float32)
        self.feats.append(f)
        self.times.append(time_s)
        self.dark.append(float(f[0].mean()) < self.tuning.dark_luma)
        self.change.append(distance(self._f(self.n - 1), f) if self.n else 0.0)
        self.score.append(np.nan)
        self.scale.append(0)
        self.n += 1
        for w in self.windows:  # the dissolve score of the frame w before the newest one
            c = self.n - 1 - w
            if c - w >= self.first:
                self._dissolve_score(c, w)
        found = []
        while self.evaluated < self.n - self.lag:
            found += self._decide(self.evaluated)
            self.evaluated += 1
        self._trim()
        return found

    def finish(self) -> list[Boundary]:
        found = []
        while self.evaluated < self.n:
            found += self._decide(self.evaluated)
            self.evaluated += 1
        self.run_start = None
        return found

    def _f(self, i: int) -> np.ndarray:
        return self.feats[i - self.first]

    def _dissolve_score(self, c: int, w: int) -> None:
        if any(self.dark[c - w - self.first : c + w + 1 - self.first]):
            return  # fades are told by their dark frames: a fade to black is a dissolve into black
        a, mid, b = self._f(c - w), self._f(c), self._f(c + w)
        s = distance(a, b) - 2 * float(np.abs(mid - (a + b) * 0.5).mean())
        j = c - self.first
        if not self.score[j] >= s:  # nan compares false: the first score wins over nothing
            self.score[j], self.scale[j] = s, w

    def _decide(self, i: int) -> list[Boundary]:
        j = i - self.first
        dark = self.dark
        if dark[j]:
            t, luma = self.times[j], float(self._f(i)[0].mean())
            if self.run_start is None:
                self.run_start, self.darkest = t, (np.inf, t, t)
                self.before_dark = self._f(i - self.around) if i - self.around >= self.first else None
            low, first, last = self.darkest
            self.darkest = (luma, t, t) if luma < low - 2 else (min(low, luma), first, t if luma <= low + 2 else last)
            return []
        if self.run_start is not None:
            start, self.run_start = self.run_start, None
            return self._fade(start, self.times[j - 1], i)
        if i > self.first and not dark[j - 1] and self._is_cut(i):
            return self._emit(Boundary(self.times[j], "cut", self.times[j], self.times[j]))
        if self._is_dissolve(i):
            w = self.windows[-1] // 2
            lo, hi = max(j - w, 0), min(j + w, len(self.times) - 1)
            return self._emit(Boundary(self.times[j], "dissolve", self.times[lo], self.times[hi]))
        return []

    def _is_cut(self, i: int) -> bool:
        t, j = self.tuning, i - self.first
        d = self.change[j]
        if d < t.cut_min:
            return False
        lo, hi = max(j - self.k, 1), min(j + self.k + 1, len(self.change))
        around = [self.change[x] for x in range(lo, hi) if x != j]
        if around and d < t.cut_ratio * max(float(np.mean(around)), 1.0):
            return False
        before = np.stack(self.feats[max(j - self.ctx, 0) : j])
        after = np.stack(self.feats[j : min(j + self.ctx, len(self.feats))])
        closest = float(np.abs(before[:, None] - after[None, :]).mean(axis=tuple(range(2, before.ndim + 1))).min())
        return closest >= max(t.cut_min, t.cut_keep * d)

    def _is_dissolve(self, i: int) -> bool:
        t, j = self.tuning, i - self.first
        s = self.score[j]
        if not s >= t.dissolve_min:
            return False
        w = self.windows[-1]
        near = self.score[max(j - w, 0) : j + w + 1]
        if any(x > s for x in near) or any(x == s for x in self.score[max(j - w, 0) : j]):
            return False  # not the peak (the first of equal peaks wins)
        around = [x for x in self.score[max(j - self.base, 0) : j + self.base + 1] if not math.isnan(x)]
        if s < t.dissolve_ratio * max(float(np.median(around)), 1.0):
            return False
        w = self.scale[j]  # the shots' own motion over the same time: one window further out on each side
        if i - 2 * w < self.first or i + 2 * w >= self.n:
            return False
        a, b = self._f(i - w), self._f(i + w)
        motion = max(distance(self._f(i - 2 * w), a), distance(b, self._f(i + 2 * w)), 1.0)
        return distance(a, b) >= t.dissolve_contrast * motion

    def _fade(self, t0: float, t1: float, end: int) -> list[Boundary]:
        """A dark run from `t0` to `t1`, over at frame `end`: a fade when the pictures around it differ."""
        before, after = self.before_dark, self._f(min(end + self.around, self.n - 1))
        if before is None or distance(before, after) < self.tuning.fade_min:
            return []
        _, first, last = self.darkest
        return self._emit(Boundary(round((first + last) / 2, 6), "fade", t0, t1))

    def _emit(self, boundary: Boundary) -> list[Boundary]:
        if boundary.time_s - self.last_s < self.tuning.min_gap_s:
            return []
        self.last_s = boundary.time_s
        return [boundary]

    def _trim(self) -> None:
        drop = self.evaluated - self.keep - self.first
        if drop > 0:
            for buffer in (self.feats, self.times, self.dark, self.change, self.score, self.scale):
                del buffer[:drop]
            self.first += drop
