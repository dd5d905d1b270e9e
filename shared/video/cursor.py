"""A decoding position in one video stream, moved from target to target as cheaply as possible.

It seeks only when a keyframe lies between where it is and the next target (else decoding on is
cheaper), steps back when a coarse index lands a seek after the target, and while still far from a target
tells the decoder to skip frames nothing refers to (B-frames, usually half of them): they can never be
the frame on screen at the target, so the result is the same frame, decoded for much less.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av.error
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from shared.runtime.errors import BadInput
from shared.video.reading import Deadline

EPS = 1e-3  # seconds: timestamps are rounded to the container's time base
INF = float("inf")
NEAR_S = 1.0  # decode every frame from this far before a target (well beyond any reorder delay)


@dataclass(frozen=True)
class Plan:
    """What one clip's targets share."""

    start: float
    tolerance: float  # how far before its target a keyframe may be taken (0: exact, INF: keyframe mode)
    duration: float


class Cursor:
    def __init__(self, container: InputContainer, stream: VideoStream, deadline: Deadline, max_pixels: int) -> None:
        self.container, self.stream, self.deadline, self.max_pixels = container, stream, deadline, max_pixels
        self.tb = stream.time_base or Fraction(1, 1_000_000)
        self.t0 = float(stream.start_time * self.tb) if stream.start_time is not None else 0.0
        self.step = 1 / float(stream.average_rate or stream.guessed_rate or 25)
        self._frames: object = iter(())  # decoded frames from the current position
        self._pending: VideoFrame | None = None  # read ahead while looking for a target, not yet used
        self._last_time = -1.0  # time of the last frame decoded from the current position
        self._shown: VideoFrame | None = None  # the frame picked last (on screen at the decoding position)
        self._keyframes: tuple[int, list[float]] = (-1, [])

    def time_of(self, frame: VideoFrame) -> float:
        return frame.time - self.t0 if frame.time is not None else self._last_time + self.step

    def keyframes(self) -> list[float]:
        """Keyframe times from the container's index: every sample in MP4; MKV loads its cues on the first
        seek, so this is re-read when the index grows. May be empty (then every target seeks)."""
        entries = self.stream.index_entries
        if self._keyframes[0] != len(entries):
            times = sorted(float(e.timestamp * self.tb) - self.t0 for e in entries if e.is_keyframe)
            self._keyframes = (len(entries), times)
        return self._keyframes[1]

    def pick(self, target: float, plan: Plan) -> VideoFrame:
        self._shown = self._find(target, plan)
        return self._shown

    def _find(self, target: float, plan: Plan) -> VideoFrame:
        if self._shown is not None and self._exact_needed(target, plan) and self._can_continue_to(target):
            frame = self._shown  # decode on from the frame on screen now
        else:
            self._seek(target)
            first = self._next()
            if first is None:
                raise BadInput(
                    f"no decodable frame at or before {target:.2f} s: the file is truncated or empty"
                )
            t = self.time_of(first)
            if target - t <= plan.tolerance and t >= plan.start - EPS:
                return first  # the keyframe: keyframe mode, or auto with the keyframe close enough
            frame = first
        goal = (
            plan.start if plan.tolerance == INF else target
        )  # keyframe mode only decodes on to the clip start
        while (following := self._next(skip_unreferenced=goal - self._last_time > NEAR_S)) is not None:
            if self.time_of(following) > goal + EPS:
                self._pending = following
                break
            frame = following
        else:
            if target - self.time_of(frame) > max(3 * self.step, 1.0):
                raise BadInput(
                    f"truncated: video data ends at {self.time_of(frame):.2f} s, the file says {plan.duration:.2f} s"
                )
        if self.time_of(frame) < plan.start - EPS and self._pending is not None:
            frame = self._pending  # the clip starts after this frame: take the clip's first frame
        return frame

    def _exact_needed(self, target: float, plan: Plan) -> bool:
        """Whether the index shows the keyframe before target will not do (too far, or before the clip)."""
        if plan.tolerance == 0:
            return True
        before = [k for k in self.keyframes() if k <= target + EPS]
        return bool(before) and (target - before[-1] > plan.tolerance or before[-1] < plan.start - EPS)

    def _can_continue_to(self, target: float) -> bool:
        """Decoding on is cheaper than seeking while no keyframe lies between here and the target."""
        keyframes = self.keyframes()
        if not keyframes or self._last_time < 0 or self._last_time > target:
            return False
        return not any(self._last_time < k <= target for k in keyframes)

    def _seek(self, target: float) -> None:
        """Seek to the keyframe at or before target; step back further when a coarse index lands after it."""
        back = 0.0
        while True:
            ts = max(0.0, target - back)
            self.container.seek(round((ts + self.t0) / self.tb), stream=self.stream, backward=True)
            self._frames = iter(self.container.decode(self.stream))
            self._pending, self._shown = None, None
            first = self._next()
            if first is None or self.time_of(first) <= target + EPS or ts == 0.0:
                self._pending, self._last_time = first, -1.0
                return
            back = max(1.0, back * 2)

    def _next(self, skip_unreferenced: bool = False) -> VideoFrame | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            self.deadline.check_time()  # the reader checks it too, on every read of every stream
            ctx = self.stream.codec_context
            wanted: Literal["NONREF", "DEFAULT"] = "NONREF" if skip_unreferenced else "DEFAULT"
            if ctx.skip_frame != wanted:
                ctx.skip_frame = wanted
            try:
                frame = next(self._frames, None)  # type: ignore[call-overload]
            except av.error.InvalidDataError as e:
                self._check_size(ctx.width, ctx.height)  # the decoder refused a frame over MIRA_MAX_PIXELS
                raise BadInput(
                    f"corrupt video data after {max(self._last_time, 0):.2f} s ({e.strerror})"
                ) from e
        if frame is not None:
            self._check_size(frame.width, frame.height)
            self._last_time = self.time_of(frame)
        return frame

    def _check_size(self, width: int, height: int) -> None:
        """Every decoded frame, not just the size the stream declares: a stream may switch size mid-way."""
        if width * height > self.max_pixels:
            raise BadInput(
                f"a decoded frame is {width}x{height}, over the limit of {self.max_pixels} pixels (MIRA_MAX_PIXELS)"
            )

    def scan_end(self) -> float:
        """Demux (not decode) every packet to find where the stream ends; then rewind."""
        end = 0.0
        for packet in self.container.demux(self.stream):
            self.deadline.check_time()
            if packet.pts is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * self.tb) - self.t0)
        self.container.seek(0, stream=self.stream, backward=True)
        return end
