"""Grids are stored content-addressed (file:// and s3://) and reused: the same clip range with the same
render settings is never decoded twice."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.framegrid.store import GridMaker
from shared.blobstore import BlobStore, open_blobstore
from tests.framegrid.support import Videos, clip, settings

JPEG = b"\xff\xd8\xff\xe0 not really a jpeg"


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        request.getfixturevalue("s3")
        return open_blobstore(f"s3://grids/run-{tmp_path.name}")
    return open_blobstore((tmp_path / "blobs").as_uri())


async def test_blobs_are_content_addressed(store: BlobStore) -> None:
    ref = await store.put(JPEG)
    assert ref.sha256 == hashlib.sha256(JPEG).hexdigest() and ref.uri.endswith(f"{ref.sha256}.jpg")
    assert (await store.put(JPEG)).uri == ref.uri  # the same bytes: the same blob
    assert await store.get(ref.uri) == JPEG and await store.exists(ref.uri)
    assert not await store.exists(ref.uri.replace(ref.sha256, "0" * 64))


async def test_aliases_name_stored_blobs(store: BlobStore) -> None:
    assert await store.get_alias("grid of clip 1") is None
    ref = await store.put(JPEG)
    await store.put_alias("grid of clip 1", ref.uri)
    assert await store.get_alias("grid of clip 1") == ref.uri


def counting(calls: list[str]) -> Callable[..., Any]:
    async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
        calls.append(fn.__name__)
        return await asyncio.to_thread(fn, *args)

    return run_blocking


async def test_an_existing_grid_is_reused_not_rerendered(
    store: BlobStore, videos: Videos, tmp_path: Path
) -> None:
    source = tmp_path / "clip.mp4"
    shutil.copy(videos.get("long.mp4", seconds=20, fps=12, gop=24), source)
    calls: list[str] = []
    maker = GridMaker(settings(), store)
    first, rendered = await maker.grid_for(clip(source, 2.0, 10.0), counting(calls))
    assert rendered and calls == ["render_grid"]
    assert hashlib.sha256(await store.get(first.grid.uri)).hexdigest() == first.grid.sha256
    source.unlink()  # reuse must not even open the video
    again, rendered = await maker.grid_for(clip(source, 2.0, 10.0), counting(calls))
    assert not rendered and calls == ["render_grid"] and again == first


async def test_other_ranges_settings_or_token_rules_render_anew(store: BlobStore, videos: Videos) -> None:
    # Large enough that the token rule, not the source's own resolution, limits the grid's size.
    source = videos.get("long-hd.mp4", seconds=20, fps=12, gop=24, width=640, height=360)
    calls: list[str] = []
    base, _ = await GridMaker(settings(), store).grid_for(clip(source, 2.0, 10.0), counting(calls))
    other_range, _ = await GridMaker(settings(), store).grid_for(clip(source, 2.0, 12.0), counting(calls))
    other_mode, _ = await GridMaker(settings(sample_mode="exact"), store).grid_for(
        clip(source, 2.0, 10.0), counting(calls)
    )
    other_rule, _ = await GridMaker(settings(), store).grid_for(
        clip(source, 2.0, 10.0), counting(calls), model="gpt-4.1-mini"
    )
    same_rule, _ = await GridMaker(settings(), store).grid_for(
        clip(source, 2.0, 10.0), counting(calls), model="gpt-4o-2024-08-06"
    )
    assert len(calls) == 4 and same_rule == base
    assert other_range.grid.frame_times_s != base.grid.frame_times_s
    assert other_mode.grid.sample_mode == "exact" and other_rule.grid.width != base.grid.width


async def test_rerender_replaces_the_alias(store: BlobStore, videos: Videos) -> None:
    source = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    calls: list[str] = []
    maker = GridMaker(settings(), store)
    first, _ = await maker.grid_for(clip(source), counting(calls))
    second, rendered = await maker.grid_for(clip(source), counting(calls), rerender=True)
    assert rendered and calls == ["render_grid", "render_grid"] and second == first  # same pixels, same blob
