"""Helpers for the split stage's tests: a whole-video job as ingest routes it, and a scan run to its end."""

from __future__ import annotations

from typing import Literal

from services.split.scan import Scan, Step
from services.split.settings import SplitSettings
from shared import ids
from shared.messages import ClipSpan, VideoJob


def video_job(source: str, request_id: str = "r1", split: Literal["auto", "always"] = "always") -> VideoJob:
    """The job ingest publishes for a whole video (no time range), ids from the source as ingest names them."""
    clip_id = ids.clip_id_for(source, None, None)
    return VideoJob(job_id=ids.first_job_id(clip_id), request_id=request_id, split=split,
                    clip=ClipSpan(clip_id=clip_id, video_id=ids.video_id_for(source), source_uri=source))


def scan_steps(source: str, settings: SplitSettings) -> list[Step]:
    """Every step of a scan of `source` from the beginning to its end (or its failure)."""
    scan = Scan(source, settings)
    try:
        scan.start(0.0)
        steps = [scan.step()]
        while not steps[-1].done:
            steps.append(scan.step())
    finally:
        scan.close()
    return steps
