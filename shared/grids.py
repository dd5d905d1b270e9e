"""Stored grids: the description kept beside each grid image, so a grid can be reused (by framegrid for a
resubmitted clip, by recaption for a new prompt or model) without decoding the video again."""

from __future__ import annotations

import json

from shared.blobstore import BlobStore
from shared.messages import GridInfo, Part, VideoInfo


class StoredGrid(Part):
    video: VideoInfo
    grid: GridInfo


def meta_alias(grid_sha256: str) -> str:
    return f"grid-meta:{grid_sha256}"


async def save(blobs: BlobStore, stored: StoredGrid, *aliases: str) -> None:
    meta = await blobs.put(stored.model_dump_json().encode(), suffix=".json", content_type="application/json")
    for alias in (*aliases, meta_alias(stored.grid.sha256)):
        await blobs.put_alias(alias, meta.uri)


async def load(blobs: BlobStore, alias: str) -> StoredGrid | None:
    """The stored description under `alias`, if both it and the grid image are still there."""
    uri = await blobs.get_alias(alias)
    if uri is None:
        return None
    stored = StoredGrid.model_validate(json.loads(await blobs.get(uri)))
    return stored if await blobs.exists(stored.grid.uri) else None
