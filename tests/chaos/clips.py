"""Hundreds of distinct short clips, made in seconds and kept in a cache folder shared by every seed.

Each clip is one second of a tiny H.264 video whose frames show their own index (tests/media/videos.py), so
no two clips give the same grid: a model question paid twice is one clip's question, never two clips that
happen to look alike. One video holds up to 500 one-second clips; more clips use more videos of another
height (so their grids differ too).
"""

from __future__ import annotations

from pathlib import Path

from services.ingest.sources import to_job
from shared.messages import ClipSubmission
from tests.media.videos import INDEX_BITS, make_video

FPS = 8
CLIPS_PER_VIDEO = (1 << INDEX_BITS) // FPS - 12  # every frame index fits the 12 index squares
WIDTH, HEIGHT = 64, 48


def videos(cache: Path, clips: int) -> list[Path]:
    """The source videos for `clips` clips, encoded once into `cache`."""
    out = []
    for n in range(-(-clips // CLIPS_PER_VIDEO)):
        seconds = min(CLIPS_PER_VIDEO, clips - n * CLIPS_PER_VIDEO)
        path = cache / f"chaos-{n}-{seconds}s.mp4"
        if not path.exists():
            partial = path.with_suffix(".part.mp4")
            make_video(partial, seconds=seconds, fps=FPS, width=WIDTH, height=HEIGHT + 8 * n, gop=FPS)
            partial.rename(path)  # a run stopped mid-encode leaves no half-written video behind
        out.append(path)
    return out


def submissions(cache: Path, clips: int, request_id: str) -> list[ClipSubmission]:
    """One submission per clip: second k of video k // CLIPS_PER_VIDEO."""
    sources = videos(cache, clips)
    subs = []
    for k in range(clips):
        video, second = divmod(k, CLIPS_PER_VIDEO)
        subs.append(ClipSubmission(source=str(sources[video]), start_s=float(second), end_s=float(second + 1),
                                   request_id=request_id))
    return subs


def clip_ids(subs: list[ClipSubmission]) -> set[str]:
    """The deterministic clip ids ingest gives these submissions."""
    return {to_job(sub).clip.clip_id for sub in subs}
