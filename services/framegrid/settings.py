"""framegrid's settings (MIRA_ prefix), validated at start-up: sampling and grid size, on top of what every
decoding stage reads (shared/video/settings.py: decode device, limits, the source policy)."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.messages import SampleMode
from shared.settings import CaptionModelSetting
from shared.video.settings import DecodeSettings


class FramegridSettings(DecodeSettings, CaptionModelSetting):
    sample_mode: SampleMode = Field(
        "auto",
        description="exact: decode to each target; keyframe: keyframe at or before it; auto: keyframe "
        "when within the tolerance, else exact.",
    )
    keyframe_tolerance_s: float = Field(
        5.0,
        ge=0,
        description="auto mode: farthest a keyframe may sit before its target (never outside the "
        "target's eighth of the clip).",
    )
    grid_model: str | None = Field(
        None, description="Size grids for this model instead of MIRA_CAPTION_MODEL."
    )
    grid_tile_budget: int = Field(
        8, ge=1, description="512 px tiles the grid image may cost (8: 2048x576 at 16:9)."
    )
    grid_cell_aspect: float | None = Field(
        None,
        gt=0,
        description="Cell width/height for every grid (e.g. 16:9), letterboxing other shapes; unset fits "
        "the cells to each video's display shape so no pixel is spent on bars.",
    )
    jpeg_quality: int = Field(85, ge=30, le=100)

    @field_validator("grid_cell_aspect", mode="before")
    @classmethod
    def _ratio(cls, value: object) -> object:
        """Accept "16:9" as well as 1.777."""
        if isinstance(value, str) and ":" in value:
            w, h = value.split(":", 1)
            return float(w) / float(h)
        return value or None

    @property
    def sizing_model(self) -> str:
        return self.grid_model or self.caption_model
