"""One call from a clip to its grid JPEG: open the source, sample 8 frames, size the grid for the caption
model's image-token rule (never beyond the source's own resolution), compose and encode. Blocking (PyAV
releases the GIL while decoding): the handler runs it in its own decode pool (shared/video/pool.py),
not the runtime's pool for quick blocking calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.framegrid.grid import Layout, compose, display_size, encode_jpeg, native_size, picture
from services.framegrid.sampler import Limits, sample_clip
from services.framegrid.settings import FramegridSettings
from shared.messages import ClipSpan, SampleMode, VideoInfo
from shared.video.reading import ReadBudget
from shared.video.source import decode_device, open_source, source_errors
from shared.vision_models import grid_size_for, image_tokens


@dataclass(frozen=True)
class RenderedGrid:
    jpeg: bytes
    video: VideoInfo
    frame_times_s: list[float]
    width: int
    height: int
    sample_mode: SampleMode
    image_tokens: int  # what `model` bills for this image, sent at detail "high"
    model: str
    decode_device: str


def render_grid(clip: ClipSpan, settings: FramegridSettings, model: str | None = None) -> RenderedGrid:
    """Render `clip`'s grid, sized for `model` (default: MIRA_GRID_MODEL, else MIRA_CAPTION_MODEL).

    Raises BadInput with the reason when the source is missing, broken, over a limit, or the range is
    past its end; SourceError (retryable, URL credentials removed) when reading fails otherwise.
    """
    model = model or settings.sizing_model
    limits = Limits(
        settings.max_duration_s, settings.max_pixels, settings.decode_timeout_s, settings.decode_threads
    )
    budget = ReadBudget(settings.decode_timeout_s, settings.max_file_bytes)  # for opening, reading, decoding
    with source_errors(clip.source_uri), open_source(clip.source_uri, settings, budget) as container:
        sampled = sample_clip(container, clip, settings.sample_mode, settings.keyframe_tolerance_s, limits, budget)
        dw, dh = display_size(sampled.frames[0], sampled.sample_aspect)
        cell_aspect = settings.grid_cell_aspect or dw / dh
        # A grid of 4 cells across and 2 down has twice the cells' aspect (separators aside); never larger
        # than the source's own resolution fills, so low-resolution clips cost what they carry.
        budget_w, budget_h = grid_size_for(model, settings.grid_tile_budget, 2 * cell_aspect)
        native_w, native_h = native_size(dw, dh, cell_aspect)
        layout = Layout.within(min(budget_w, native_w), min(budget_h, native_h))
        converted: dict[int, np.ndarray] = {}  # short clips repeat frames: convert each once
        for frame in sampled.frames:
            if id(frame) not in converted:
                converted[id(frame)] = picture(frame, sampled.sample_aspect, layout)
    pictures = [converted[id(frame)] for frame in sampled.frames]
    jpeg = encode_jpeg(compose(pictures, layout), settings.jpeg_quality)
    return RenderedGrid(
        jpeg=jpeg,
        video=sampled.video,
        frame_times_s=sampled.times_s,
        width=layout.width,
        height=layout.height,
        sample_mode=settings.sample_mode,
        image_tokens=image_tokens(model, layout.width, layout.height),
        model=model,
        decode_device=decode_device(settings.decode_device),
    )
