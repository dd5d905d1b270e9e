"""Picks the 8 frames of a clip: uniform targets over the clip's time range, found by seeking, not by
decoding the whole file.

Targets sit at the centres of 8 equal segments of [start, end). Per target, by mode:
- exact: seek to the keyframe at or before the target, decode forward to the frame a player shows at it;
- keyframe: that keyframe itself (never one before the clip's start: then the clip's first frame);
- auto: the keyframe when it lies within MIRA_KEYFRAME_TOLERANCE_S of the target and inside the target's
  own eighth of the clip, else exact.
Times are seconds from the video's first frame (the timeline of start_s/end_s), recorded as sampled.
A range ending past the end of the video is clamped to it; one starting past the end is BadInput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import av.error
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from shared.messages import ClipSpan, SampleMode, VideoInfo
from shared.runtime.errors import BadInput

FRAMES = 8
EPS = 1e-3  # seconds: timestamps are rounded to the container's time base
INF = float("inf")


@dataclass(frozen=True)
class Limits:
    max_duration_s: float
    max_pixels: int
    timeout_s: float
    decode_threads: int = 1


@dataclass(frozen=True)
class Sampled:
    frames: list[VideoFrame]  # chosen frames, in target order (the same frame may repeat in short clips)
    times_s: list[float]
    video: VideoInfo
    sample_aspect: Fraction


def video_stream(container: InputContainer) -> VideoStream:
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        if container.streams.audio:
            raise BadInput("audio only: the file has no video stream")
        raise BadInput("the file has no video stream")
    return streams[0]


def sample_clip(
    container: InputContainer, clip: ClipSpan, mode: SampleMode, tolerance_s: float, limits: Limits
) -> Sampled:
    stream = video_stream(container)
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise BadInput("the video stream declares no picture size")
    if ctx.width * ctx.height > limits.max_pixels:
        raise BadInput(
            f"resolution {ctx.width}x{ctx.height} is over the limit of {limits.max_pixels} pixels (MIRA_MAX_PIXELS)"
        )
    # Frame threading delays output after every seek; slice threads (or none) suit seek-heavy sampling.
    ctx.thread_type, ctx.thread_count = "SLICE", limits.decode_threads
    cursor = _Cursor(container, stream, time.monotonic() + limits.timeout_s)
    duration = _duration(container, stream, cursor)
    if duration > limits.max_duration_s:
        raise BadInput(
            f"video is {duration:.0f} s long, over the limit of {limits.max_duration_s:.0f} s (MIRA_MAX_DURATION_S)"
        )
    start = clip.start_s
    if clip.end_s is not None and clip.end_s <= start:
        raise BadInput(f"empty clip range: end {clip.end_s} s is not after start {start} s")
    if start >= duration - EPS:
        raise BadInput(f"clip starts at {start:.3f} s, past the end of the video ({duration:.3f} s)")
    end = min(clip.end_s if clip.end_s is not None else duration, duration)
    step = (end - start) / FRAMES
    tolerance = {"exact": 0.0, "keyframe": INF, "auto": min(tolerance_s, step / 2)}[mode]
    plan = _Plan(start, tolerance, _keyframe_times(stream, cursor.t0), duration)
    frames: list[VideoFrame] = []
    times: list[float] = []
    for i in range(FRAMES):
        frames.append(cursor.pick(start + (i + 0.5) * step, plan))
        times.append(round(cursor.time_of(frames[-1]), 3))
    fps = float(stream.average_rate or stream.guessed_rate or 0) or (FRAMES / (end - start))
    upright = (
        (ctx.height, ctx.width) if round((frames[0].rotation or 0) / 90) % 2 else (ctx.width, ctx.height)
    )
    info = VideoInfo(
        fps=round(fps, 3),
        width=upright[0],  # as a player shows it: a portrait phone video is taller than wide
        height=upright[1],
        duration_s=round(end - start, 3),
        codec=stream.codec.canonical_name,
    )
    return Sampled(frames, times, info, ctx.sample_aspect_ratio or Fraction(1))


def _duration(container: InputContainer, stream: VideoStream, cursor: _Cursor) -> float:
    """Declared duration, or (WebM/MKV written live, raw streams) the last packet's end found by demuxing."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000 - cursor.t0 + (container.start_time or 0) / 1_000_000
    return cursor.scan_end()


def _keyframe_times(stream: VideoStream, t0: float) -> list[float]:
    """Keyframe times from the container's index (every sample in MP4, cues in MKV; may be empty)."""
    tb = stream.time_base or Fraction(1)
    return sorted(float(e.timestamp * tb) - t0 for e in stream.index_entries if e.is_keyframe)


@dataclass(frozen=True)
class _Plan:
    """What one clip's targets share."""

    start: float
    tolerance: float  # how far before its target a keyframe may be taken
    keyframes: list[float]  # known keyframe times (may be empty: then every target seeks)
    duration: float

    def keyframe_serves(self, target: float) -> bool:
        """Whether the index's keyframe at or before target is close enough and inside the clip."""
        before = [k for k in self.keyframes if k <= target + EPS]
        return bool(before) and target - before[-1] <= self.tolerance and before[-1] >= self.start - EPS


class _Cursor:
    """A decoding position in one stream: seeks only when a keyframe lies between it and the next target."""

    def __init__(self, container: InputContainer, stream: VideoStream, deadline: float) -> None:
        self.container, self.stream, self.deadline = container, stream, deadline
        self.tb = stream.time_base or Fraction(1, 1_000_000)
        self.t0 = float(stream.start_time * self.tb) if stream.start_time is not None else 0.0
        self.step = 1 / float(stream.average_rate or stream.guessed_rate or 25)
        self._frames = iter(())  # decoded frames from the current position
        self._pending: VideoFrame | None = None  # read ahead while looking for a target, not yet used
        self._last_time = -1.0  # time of the last frame decoded from the current position
        self._shown: VideoFrame | None = None  # the frame picked last (on screen at the decoding position)

    def time_of(self, frame: VideoFrame) -> float:
        return frame.time - self.t0 if frame.time is not None else self._last_time + self.step

    def pick(self, target: float, plan: _Plan) -> VideoFrame:
        self._shown = self._find(target, plan)
        return self._shown

    def _find(self, target: float, plan: _Plan) -> VideoFrame:
        exactish = plan.tolerance == 0 or (bool(plan.keyframes) and not plan.keyframe_serves(target))
        if exactish and self._shown is not None and self._can_continue_to(target, plan.keyframes):
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
        while (following := self._next()) is not None:
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

    def _can_continue_to(self, target: float, keyframes: list[float]) -> bool:
        """Decoding on is cheaper than seeking while no keyframe lies between here and the target."""
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

    def _next(self) -> VideoFrame | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            if time.monotonic() > self.deadline:
                raise BadInput("decoding took longer than the limit (MIRA_DECODE_TIMEOUT_S)")
            try:
                frame = next(self._frames, None)
            except av.error.InvalidDataError as e:
                raise BadInput(
                    f"corrupt video data after {max(self._last_time, 0):.2f} s ({e.strerror})"
                ) from e
        if frame is not None:
            self._last_time = self.time_of(frame)
        return frame

    def scan_end(self) -> float:
        """Demux (not decode) every packet to find where the stream ends; then rewind."""
        end = 0.0
        for packet in self.container.demux(self.stream):
            if time.monotonic() > self.deadline:
                raise BadInput("reading the file took longer than the limit (MIRA_DECODE_TIMEOUT_S)")
            if packet.pts is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * self.tb) - self.t0)
        self.container.seek(0, stream=self.stream, backward=True)
        return end
