"""Grids are stored once and reused: the same clip range rendered with the same settings for the same
image-token rule maps (by an alias in the blob store) to the grid already stored, so a redelivered job or
a recaption with another prompt never decodes the video again. Descriptions are kept by shared/grids.py,
which recaption reads too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from services.framegrid.render import RenderedGrid, render_grid
from services.framegrid.settings import FramegridSettings
from shared import grids
from shared.blobstore import BlobRef, BlobStore
from shared.grids import StoredGrid
from shared.messages import ClipSpan, GridInfo
from shared.vision_models import model_spec

RENDER_VERSION = 2  # bump when the renderer draws different pixels for the same inputs

RunBlocking = Callable[..., Awaitable[Any]]


def grid_alias(clip: ClipSpan, settings: FramegridSettings, model: str) -> str:
    """Everything that changes the grid's pixels, and nothing else (not the prompt, not the model's price)."""
    rule = model_spec(model).model_dump(exclude={"input_per_m", "output_per_m"})
    key = {
        "v": RENDER_VERSION,
        "source": clip.source_uri,
        "start": round(clip.start_s, 3),
        "end": None if clip.end_s is None else round(clip.end_s, 3),
        "mode": settings.sample_mode,
        "tolerance": settings.keyframe_tolerance_s,
        "tiles": settings.grid_tile_budget,
        "cell_aspect": settings.grid_cell_aspect,
        "rule": rule,
        "quality": settings.jpeg_quality,
    }
    return "grid:" + json.dumps(key, sort_keys=True)


def stored_grid(rendered: RenderedGrid, image: BlobRef) -> StoredGrid:
    info = GridInfo(
        uri=image.uri,
        sha256=image.sha256,
        width=rendered.width,
        height=rendered.height,
        frame_times_s=rendered.frame_times_s,
        sample_mode=rendered.sample_mode,
        image_tokens=rendered.image_tokens,
    )
    return StoredGrid(video=rendered.video, grid=info)


class GridMaker:
    """The framegrid stage's work, minus Kafka: reuse a stored grid or render and store a new one."""

    def __init__(self, settings: FramegridSettings, store: BlobStore) -> None:
        self.settings, self.store = settings, store

    async def grid_for(
        self, clip: ClipSpan, run_blocking: RunBlocking, *, model: str | None = None, rerender: bool = False
    ) -> tuple[StoredGrid, bool]:
        """The clip's grid and whether it was rendered now (False: reused). `run_blocking(fn, *args)` runs
        the decode off the event loop (the handler passes its decode pool's run)."""
        model = model or self.settings.sizing_model
        alias = grid_alias(clip, self.settings, model)
        if not rerender and (found := await grids.load(self.store, alias)) is not None:
            return found, False
        rendered: RenderedGrid = await run_blocking(render_grid, clip, self.settings, model)
        image = await self.store.put(rendered.jpeg, suffix=".jpg", content_type="image/jpeg")
        stored = stored_grid(rendered, image)
        await grids.save(self.store, stored, alias)  # the alias is written last: never a half-stored grid
        return stored, True
