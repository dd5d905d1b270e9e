"""A store the review tests can look at: CLIPS clips with one, two or three versions each (600 records),
real 2x4 grids rendered by the framegrid code from PyAV-encoded videos into a file blob store, captions
that change word by word between versions, and some clips whose latest version failed or was refused."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared import grids
from shared.blobstore import FileBlobStore
from shared.messages import Captions, CaptionStatus, ClipSpan, GridInfo
from shared.store import RecordStore
from tests.media.videos import make_video
from tests.store.factories import result

CLIPS = 300
VIDEOS = 4
COLOURS = ("red", "grey", "white")
PLACES = ("snowy", "misty", "sunlit")


@dataclass(frozen=True)
class Seeded:
    database_url: str
    blob_url: str
    clips: int
    records: int


def versions_of(i: int) -> int:
    return i % 3 + 1


def latest_status(i: int) -> CaptionStatus:
    return "failed" if i % 14 == 0 else "refused" if i % 14 == 7 else "success"


def captions_for(i: int, version: int) -> Captions:
    """Version v changes a few words of version v-1, so a diff has something to mark."""
    colour, place = COLOURS[version - 1], PLACES[version - 1]
    return Captions(
        dense_caption=f"A {colour} fox number {i} trots across a {place} meadow while snow drifts down slowly.",
        main_object_caption=f"A {colour} fox with a bushy tail, clip {i}, moving left to right.",
        background_caption=f"A {place} meadow bordered by pine trees.",
        camera_caption="Static wide shot at eye level." if version < 3 else "Slow pan following the fox.",
        style_caption="Naturalistic documentary style.",
    )


def render_grids(folder: Path, blobs: FileBlobStore) -> list[GridInfo]:
    """Real grids: one per (video, half) of VIDEOS small encoded videos, stored with their descriptions."""
    settings = FramegridSettings()
    out = []
    for v in range(VIDEOS):
        path = make_video(folder / f"video-{v}.mp4", seconds=2.0, fps=12, width=160, height=96, textured=v % 2 == 1)
        for start in (0.0, 1.0):
            clip = ClipSpan(clip_id=f"grid-{v}-{start}", video_id=f"video-{v}", source_uri=path.as_uri(),
                            start_s=start, end_s=start + 1.0)
            rendered = render_grid(clip, settings)
            ref = asyncio.run(blobs.put(rendered.jpeg))
            info = GridInfo(uri=ref.uri, sha256=ref.sha256, width=rendered.width, height=rendered.height,
                            frame_times_s=rendered.frame_times_s, sample_mode=rendered.sample_mode,
                            image_tokens=rendered.image_tokens)
            asyncio.run(grids.save(blobs, grids.StoredGrid(video=rendered.video, grid=info)))
            out.append(info)
    return out


def seed(folder: Path) -> Seeded:
    """Runs in a thread of its own: the blob store is asyncio, and a test's browser may own this thread's loop."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(_seed, folder).result()


def _seed(folder: Path) -> Seeded:
    folder.mkdir(parents=True, exist_ok=True)
    database_url, blobs = f"sqlite:///{folder / 'mira.db'}", FileBlobStore(folder / "blobs")
    grid_infos = render_grids(folder / "videos", blobs)
    count = 0
    with RecordStore.open(database_url) as store:
        for version in (1, 2, 3):  # all first versions, then all second ones: the newest rows are latest
            for i in range(CLIPS):
                if versions_of(i) < version:
                    continue
                latest = version == versions_of(i)
                status = latest_status(i) if latest else "success"
                base = result(f"clip-{i:04d}", f"job-{i:04d}-{version}", status=status,
                              model="gpt-4o-mini" if version == 3 else "gpt-4o", prompt_version=f"p{version}",
                              hint=f"a fox in clip {i}", caps=captions_for(i, version), request_id=f"req-{version}")
                grid = grid_infos[i % len(grid_infos)]
                clip = base.clip.model_copy(update={"video_id": f"video-{i % 10}"})
                store.record(base.model_copy(update={"grid": grid, "clip": clip}))
                count += 1
    return Seeded(database_url, blobs.url, CLIPS, count)
