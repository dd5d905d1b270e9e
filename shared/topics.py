"""Topic names, one per arrow of the pipeline. Each name is prefixed by MIRA_TOPIC_PREFIX."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    SUBMISSIONS = "submissions"  # clip sources offered to ingest (CLI, HTTP API, watched folder)
    VIDEOS = "videos"  # ingest -> split: whole videos to cut at shot boundaries
    CLIPS = "clips"  # ingest or split -> framegrid
    CUTS = "cuts"  # split -> anyone: each video's shot boundaries, clips and dropped shots
    GRIDS = "grids"  # framegrid -> hint (recaption may publish here to reuse a stored grid)
    HINTED = "hinted"  # hint -> caption
    CAPTIONS = "captions"  # caption -> sink
    RECORDS = "records"  # sink -> anyone: every committed record version
    RECAPTION = "recaption"  # recaption requests -> recaption
    DEAD_LETTERS = "dead-letters"  # any stage: poison messages with stage and reason

    def full(self, prefix: str) -> str:
        return f"{prefix}{self.value}"
