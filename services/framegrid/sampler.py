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

from dataclasses import dataclass
from fractions import Fraction

from av.container import InputContainer
from av.video.frame import VideoFrame

from shared.messages import ClipSpan, SampleMode, VideoInfo
from shared.runtime.errors import BadInput
from shared.video.cursor import EPS, INF, Cursor, Plan
from shared.video.reading import Deadline
from shared.video.streams import duration_of, video_stream

FRAMES = 8


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


def sample_clip(
    container: InputContainer,
    clip: ClipSpan,
    mode: SampleMode,
    tolerance_s: float,
    limits: Limits,
    deadline: Deadline | None = None,
) -> Sampled:
    """`deadline`: the clip's, when its reading began earlier (default: MIRA_DECODE_TIMEOUT_S from now)."""
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
    # The decoder itself refuses a larger frame before allocating it (a stream may switch size mid-way).
    ctx.options = {**ctx.options, "max_pixels": str(limits.max_pixels)}
    cursor = Cursor(container, stream, deadline or Deadline(limits.timeout_s), limits.max_pixels)
    duration = duration_of(container, stream, cursor)
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
    plan = Plan(start, tolerance, duration)
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
    return Sampled(frames, times, info, stream.sample_aspect_ratio or ctx.sample_aspect_ratio or Fraction(1))
