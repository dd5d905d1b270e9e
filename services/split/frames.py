"""Every frame of a video from a given time on, each shrunk to the detector's tiny YUV picture.

Shot detection needs every frame, not a sample, so decoding is the cost: the decoder skips its loop filter
(deblocking smooths block edges, which a 48x27 picture never shows), and one swscale pass takes the frame
straight from its decoded format to the tiny picture (no full-size RGB copy, unlike OpenCV-based detectors).
Source opening, limits and the decode device are those of every decoding stage (shared/video/).
"""

from __future__ import annotations

from collections.abc import Iterator

import av.error
import numpy as np
from av.container import InputContainer
from av.video.reformatter import VideoReformatter

from shared.runtime.errors import BadInput
from shared.video.reading import Deadline
from shared.video.streams import video_stream

SIZE = (48, 27)  # the detector's picture: enough for colour layout, nothing for texture or noise


class FrameReader:
    def __init__(self, container: InputContainer, deadline: Deadline, max_pixels: int, threads: int = 1) -> None:
        self.container, self.deadline, self.max_pixels = container, deadline, max_pixels
        self.stream = stream = video_stream(container)
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise BadInput("the video stream declares no picture size")
        self._check_size(ctx.width, ctx.height)
        ctx.thread_type, ctx.thread_count = ("AUTO" if threads != 1 else "SLICE"), threads
        ctx.options = {**ctx.options, "max_pixels": str(max_pixels), "skip_loop_filter": "all"}
        self.tb = stream.time_base
        self.t0 = float(stream.start_time * self.tb) if stream.start_time is not None and self.tb else 0.0
        self.fps = float(stream.average_rate or stream.guessed_rate or 25)
        self.last_s = -1.0  # time of the last frame read
        self._scale = VideoReformatter()

    def frames(self, start_s: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
        """(time, picture of shape (3, 27, 48)) for every frame at or after `start_s`."""
        if start_s > 0 and self.tb:
            self.container.seek(round((start_s + self.t0) / self.tb), stream=self.stream, backward=True)
        decoded = self.container.decode(self.stream)
        w, h = SIZE
        while True:
            self.deadline.check_time()
            try:
                frame = next(decoded, None)
            except av.error.InvalidDataError as e:
                raise BadInput(f"corrupt video data after {max(self.last_s, 0):.2f} s ({e.strerror})") from e
            if frame is None:
                return
            self._check_size(frame.width, frame.height)
            t = frame.time - self.t0 if frame.time is not None else self.last_s + 1 / self.fps
            self.last_s = t
            if t < start_s - 1e-3:
                continue
            yield t, self._scale.reformat(frame, w, h, "yuv444p", interpolation="AREA", threads=1).to_ndarray()

    def _check_size(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise BadInput(f"a decoded frame is {width}x{height}, over the limit of {self.max_pixels} pixels "
                           "(MIRA_MAX_PIXELS)")
