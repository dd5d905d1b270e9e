"""split's settings (MIRA_ prefix), validated at start-up: MiraData's clip lengths and the scan's deadline, on
top of what every decoding stage reads (the same source policy, limits and decode device as framegrid: a
source split may read is one framegrid may read)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import SplitModeSetting
from shared.video.settings import DecodeSettings


class SplitSettings(DecodeSettings, SplitModeSetting):
    clip_min_s: float = Field(60.0, ge=0, description="Shots shorter than this are dropped (and counted).")
    clip_max_s: float = Field(
        120.0, gt=0, description="Shots longer than this are cut into near-equal pieces no longer than it.")
    split_timeout_factor: float = Field(
        1.0, gt=0, description="A video's scan may take this many times its duration (plus "
        "MIRA_DECODE_TIMEOUT_S) before the rest of it is dead-lettered: a source that trickles ends.")

    @model_validator(mode="after")
    def _lengths(self) -> SplitSettings:
        if self.clip_min_s > self.clip_max_s:
            raise ValueError(f"MIRA_CLIP_MIN_S={self.clip_min_s:g} is over MIRA_CLIP_MAX_S={self.clip_max_s:g}")
        return self
