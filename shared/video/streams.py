"""What a container holds: its video stream (not a cover picture) and how long it runs."""

from __future__ import annotations

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from shared.runtime.errors import BadInput
from shared.video.cursor import Cursor


def video_stream(container: InputContainer) -> VideoStream:
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        if container.streams.audio:
            raise BadInput("audio only: the file has no video stream")
        raise BadInput("the file has no video stream")
    return streams[0]


def duration_of(container: InputContainer, stream: VideoStream, cursor: Cursor) -> float:
    """Declared duration, or (WebM/MKV written live, raw streams) the last packet's end found by demuxing."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000 - cursor.t0 + (container.start_time or 0) / 1_000_000
    return cursor.scan_end()
