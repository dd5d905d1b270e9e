"""Helpers for framegrid tests: generated videos cached per session, and reading a rendered grid back the
way a user looks at it (which frame each cell shows, whether it is upright, how it is letterboxed)."""

from __future__ import annotations

import bisect
import io
from pathlib import Path

import numpy as np
from PIL import Image

from services.framegrid.grid import Layout
from services.framegrid.render import RenderedGrid, render_grid
from services.framegrid.settings import FramegridSettings
from shared.messages import ClipSpan
from tests.media.frames import crop_content, read_index
from tests.media.videos import frame_times, make_video


class Videos:
    """make_video with a cache: the same spec is encoded once per test session."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, name: str, **spec: object) -> Path:
        path = self.root / name
        if not path.exists():
            make_video(path, **spec)  # type: ignore[arg-type]
        return path


def settings(**overrides: object) -> FramegridSettings:
    return FramegridSettings(decode_device="cpu", **overrides)  # type: ignore[arg-type]


def clip(source: Path | str, start_s: float = 0.0, end_s: float | None = None) -> ClipSpan:
    return ClipSpan(clip_id="clip", video_id="video", source_uri=str(source), start_s=start_s, end_s=end_s)


def render(
    source: Path | str, start_s: float = 0.0, end_s: float | None = None, **overrides: object
) -> RenderedGrid:
    return render_grid(clip(source, start_s, end_s), settings(**overrides))


def grid_image(rendered: RenderedGrid) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(rendered.jpeg)).convert("RGB"))


def cells(rendered: RenderedGrid) -> list[np.ndarray]:
    """The 8 cells, left to right then top to bottom, letterbox bars included."""
    image, layout = grid_image(rendered), Layout.within(rendered.width, rendered.height)
    out = []
    for i in range(8):
        x, y = layout.origin(i)
        out.append(image[y : y + layout.cell_h, x : x + layout.cell_w])
    return out


def shown_indices(rendered: RenderedGrid) -> list[int]:
    """The frame index each cell shows, read from its pixels."""
    return [read_index(crop_content(cell)) for cell in cells(rendered)]


def index_at(t: float, seconds: float, fps: float, vfr: bool = False) -> int:
    """The frame a player shows at time t in a make_video file."""
    return bisect.bisect_right(frame_times(seconds, fps, vfr), t + 1e-6) - 1


def targets(start: float, end: float) -> list[float]:
    step = (end - start) / 8
    return [start + (i + 0.5) * step for i in range(8)]
