"""What every stage that decodes videos reads (MIRA_ prefix), validated at start-up: the decode device and
workers, the limits a source must keep to, and the source policy (MIRA_ALLOWED_SOURCES, shared with ingest)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

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


class DecodeSettings(SourceSettings):
    decode_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="cuda decodes with NVDEC; auto uses it when a GPU is present."
    )
    decode_workers: int = Field(
        default_factory=lambda: usable_cpus(), ge=1, description="Clips decoded at once (default: usable CPUs)."
    )
    decode_threads: int = Field(1, ge=0, description="Slice threads per decoder (0: FFmpeg decides).")
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
