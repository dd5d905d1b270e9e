"""The 2x4 grid image: 8 frames left to right, then top to bottom, in equal cells separated by thin white
lines. Each frame is turned upright (rotation metadata), given its display shape (sample aspect ratio)
and letterboxed into its cell with black bars, never stretched.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from PIL import Image

ROWS, COLS = 2, 4
WHITE, BLACK = 255, 0
# frame.to_ndarray(width=...) builds a new swscale context for every frame (~1.5 ms at 256x144, more than
# the conversion itself); one reformatter per decode thread keeps its context while sizes stay the same.
_reformatters = threading.local()


@dataclass(frozen=True)
class Layout:
    cell_w: int
    cell_h: int
    sep: int

    @classmethod
    def within(cls, width: int, height: int) -> Layout:
        """The largest layout of equal cells that fits in width x height (so the image is never larger)."""
        sep = max(2, round(width / 512))
        return cls((width - (COLS - 1) * sep) // COLS, (height - (ROWS - 1) * sep) // ROWS, sep)

    @property
    def width(self) -> int:
        return COLS * self.cell_w + (COLS - 1) * self.sep

    @property
    def height(self) -> int:
        return ROWS * self.cell_h + (ROWS - 1) * self.sep

    def origin(self, index: int) -> tuple[int, int]:
        """Top-left corner of cell `index` (0..7, row-major)."""
        row, col = divmod(index, COLS)
        return col * (self.cell_w + self.sep), row * (self.cell_h + self.sep)


def native_size(display_w: float, display_h: float, cell_aspect: float) -> tuple[int, int]:
    """The grid whose cells of `cell_aspect` hold the picture at its own resolution. Anything larger only
    upscales: it costs image tokens and carries no more detail (a 256x144 source: 1024x288, 2 tiles)."""
    cell_w = max(display_w, display_h * cell_aspect)
    return math.floor(COLS * cell_w), math.floor(ROWS * cell_w / cell_aspect)


def display_size(frame: VideoFrame, sample_aspect: Fraction) -> tuple[float, float]:
    """How a player shows the frame: pixels widened by the sample aspect ratio, then turned upright."""
    w, h = frame.width * float(sample_aspect or 1), float(frame.height)
    return (h, w) if _quarter_turns(frame) % 2 else (w, h)


def _quarter_turns(frame: VideoFrame) -> int:
    """Counterclockwise quarter turns that make the frame upright (FFmpeg's display matrix convention)."""
    return round((frame.rotation or 0) / 90) % 4


def picture(frame: VideoFrame, sample_aspect: Fraction, layout: Layout) -> np.ndarray:
    """The frame upright and scaled to fit its cell, keeping its display aspect (RGB array)."""
    dw, dh = display_size(frame, sample_aspect)
    scale = min(layout.cell_w / dw, layout.cell_h / dh)
    out_w, out_h = max(1, round(dw * scale)), max(1, round(dh * scale))
    turns = _quarter_turns(frame)
    coded_w, coded_h = (out_h, out_w) if turns % 2 else (out_w, out_h)
    # Convert and scale in one swscale pass, from the decoded size straight to the cell. One thread: the decode
    # pool runs clips side by side, and swscale's own slice threads spent more CPU waking up than scaling.
    rgb = _reformatter().reformat(frame, coded_w, coded_h, "rgb24", interpolation="AREA",
                                  threads=1).to_ndarray()
    return np.rot90(rgb, k=turns) if turns else rgb


def _reformatter() -> VideoReformatter:
    found: VideoReformatter | None = getattr(_reformatters, "one", None)
    if found is None:
        found = _reformatters.one = VideoReformatter()
    return found


def compose(pictures: list[np.ndarray], layout: Layout) -> np.ndarray:
    """The grid as an RGB array: white separators, each picture centred on a black cell."""
    if len(pictures) != ROWS * COLS:
        raise ValueError(f"a grid takes {ROWS * COLS} pictures, got {len(pictures)}")
    canvas = np.full((layout.height, layout.width, 3), WHITE, np.uint8)
    for i, pic in enumerate(pictures):
        x, y = layout.origin(i)
        canvas[y : y + layout.cell_h, x : x + layout.cell_w] = BLACK
        ph, pw = pic.shape[:2]
        top, left = y + (layout.cell_h - ph) // 2, x + (layout.cell_w - pw) // 2
        canvas[top : top + ph, left : left + pw] = pic
    return canvas


def encode_jpeg(canvas: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(canvas).save(out, format="JPEG", quality=quality)
    return out.getvalue()
