"""Ingest settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import MiraSettings


class IngestSettings(MiraSettings):
    ingest_watch_dir: Path | None = Field(None, description="Folder watched for new video files.")
    ingest_watch_interval_s: float = Field(2.0, gt=0)
