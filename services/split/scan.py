"""One video's scan, in steps: each step decodes a few seconds and returns the boundaries they settled.

The handler runs each step in the decode pool and publishes between steps, so clips go out as shots end,
a stop or a rebalance lands between two steps, and no step holds a worker for long. A scan that resumes
starts decoding WARMUP_S before where the last one stopped (the detector needs that much context) and
keeps only boundaries after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from av.container import InputContainer

from services.split.detect import SECONDS, Boundary, ShotDetector
from services.split.frames import FrameReader
from services.split.settings import SplitSettings
from shared.runtime.errors import BadInput
from shared.video.cursor import Cursor
from shared.video.reading import ReadBudget
from shared.video.source import open_source, source_errors
from shared.video.streams import duration_of

STEP_S = 2.0  # video seconds decoded per step
WARMUP_S = SECONDS.baseline + max(SECONDS.windows) + SECONDS.context + 1.0


class ScanBudget(ReadBudget):
    """The source's reading allowance: MIRA_DECODE_TIMEOUT_S to open it, then a deadline proportional to
    what is left to scan (MIRA_SPLIT_TIMEOUT_FACTOR), and MIRA_MAX_FILE_BYTES throughout."""

    setting = "MIRA_DECODE_TIMEOUT_S"

    def allow(self, timeout_s: float) -> None:
        self.timeout_s, self.deadline = timeout_s, time.monotonic() + timeout_s
        self.setting = "MIRA_SPLIT_TIMEOUT_FACTOR"

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BadInput(f"scanning exceeded {self.timeout_s:g} s ({self.setting})")


@dataclass(frozen=True)
class Step:
    boundaries: list[Boundary]
    final_until: float  # every boundary before this has been returned
    done: bool
    failure: str | None = None  # why the rest of the video cannot be read (it is then done)


class Scan:
    """Blocking (run it in a worker thread); close() it."""

    def __init__(self, uri: str, settings: SplitSettings) -> None:
        self.uri, self.budget = uri, ScanBudget(settings.decode_timeout_s, settings.max_file_bytes)
        self.settings = settings
        with source_errors(uri):
            self.container: InputContainer = open_source(uri, settings, self.budget)
        try:
            self.reader = FrameReader(self.container, self.budget, settings.max_pixels, settings.decode_threads)
            cursor = Cursor(self.container, self.reader.stream, self.budget, settings.max_pixels)
            with source_errors(uri):
                self.duration_s = duration_of(self.container, self.reader.stream, cursor)
            if self.duration_s > settings.max_duration_s:
                raise BadInput(f"video is {self.duration_s:.0f} s long, over the limit of "
                               f"{settings.max_duration_s:.0f} s (MIRA_MAX_DURATION_S)")
        except BaseException:
            self.container.close()
            raise
        self.last_s = 0.0

    def start(self, from_s: float) -> None:
        """Scan from `from_s` on (0: the beginning), within the deadline for what is left."""
        left = max(self.duration_s - from_s, 0.0)
        self.budget.allow(self.settings.decode_timeout_s + self.settings.split_timeout_factor * left)
        self.from_s = from_s
        begin = max(0.0, from_s - WARMUP_S) if from_s > 0 else 0.0
        self.frames = self.reader.frames(begin)
        self.detector = ShotDetector(self.reader.fps)

    def step(self) -> Step:
        """The next STEP_S of video. Bad data, a truncated file or the deadline end the scan with a failure:
        what was found before it stands."""
        found: list[Boundary] = []
        until = self.last_s + STEP_S
        try:
            with source_errors(self.uri):
                for t, picture in self.frames:
                    self.last_s = t
                    found += self.detector.push(t, picture)
                    if t >= until:
                        return Step(self._after_start(found), self.detector.final_until, False)
        except BadInput as e:
            return Step(self._after_start(found + self.detector.finish()), self.last_s, True, e.reason)
        found = self._after_start(found + self.detector.finish())
        if self.duration_s - self.last_s > max(3 / self.reader.fps, 1.0):
            reason = f"truncated: video data ends at {self.last_s:.2f} s, the file says {self.duration_s:.2f} s"
            return Step(found, self.last_s, True, reason)
        return Step(found, self.duration_s, True)

    def _after_start(self, found: list[Boundary]) -> list[Boundary]:
        return [b for b in found if b.time_s > self.from_s] if self.from_s else found

    def close(self) -> None:
        self.container.close()
