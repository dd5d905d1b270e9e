"""framegrid's settings (MIRA_ prefix), validated at start-up: sampling, decode device, grid size, limits,
and the source policy it enforces again (MIRA_ALLOWED_SOURCES, shared with ingest)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from shared.messages import SampleMode
from shared.settings import CaptionModelSetting
from shared.sources.policy import SourceSettings

GiB = 1 << 30


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its affinity, capped by a container's CPU quota (cgroup v2), which
    os.cpu_count() ignores (it counts the node's CPUs)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


class FramegridSettings(SourceSettings, CaptionModelSetting):
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
    decode_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="cuda decodes with NVDEC; auto uses it when a GPU is present."
    )
    decode_workers: int = Field(
        default_factory=lambda: usable_cpus(), ge=1, description="Clips decoded at once (default: usable CPUs)."
    )
    decode_threads: int = Field(1, ge=0, description="Slice threads per decoder (0: FFmpeg decides).")
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
    max_file_bytes: int = Field(16 * GiB, ge=1, description="Larger sources are refused.")
    max_duration_s: float = Field(6 * 3600.0, gt=0, description="Longer videos are refused.")
    max_pixels: int = Field(
        7680 * 4320, ge=1, description="Frames larger than this (width x height) are refused."
    )
    decode_timeout_s: float = Field(
        120.0, gt=0, description="A clip still reading or decoding after this is refused (checked on every read)."
    )
    http_timeout_s: float = Field(30.0, gt=0, description="Network read timeout for http(s) and s3 sources.")
    http_connect_timeout_s: float = Field(10.0, gt=0, description="Network connect timeout for http(s) and s3.")
    allow_playlists: bool = Field(
        False,
        description="Read HLS and DASH playlists; each segment URL is checked against MIRA_ALLOWED_SOURCES.",
    )

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
