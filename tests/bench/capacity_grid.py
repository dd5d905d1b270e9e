"""`python -m tests.bench.capacity_grid`: the framegrid figures docs/capacity.md plans with, quickly.

Encodes (once, cached in bench-out/) a 10 s H.264 clip at 1080p and at 720p (6 Mbps, 2 s GOP, the
framegrid benchmark's settings) and prints, per clip and sampling mode, the CPU seconds of render_grid
(open, 8 frames, compose, JPEG; best of 3) and the grid's size and JPEG bytes. In `auto` mode a 10 s clip's
eighths (1.25 s) are shorter than the GOP, so it decodes to each frame; `keyframe` is what auto does for
long clips (72 s: 9 s eighths), whose cost does not grow with the clip's length (8 seeks either way).
"""

from __future__ import annotations

import resource
from pathlib import Path

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared.messages import ClipSpan
from tests.bench.framegrid import H264
from tests.media.videos import make_video

OUT = Path("bench-out")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for width, height in ((1920, 1080), (1280, 720)):
        path = OUT / f"capacity-{height}p.mp4"
        if not path.exists():
            make_video(path, seconds=10, fps=25, gop=50, textured=True, codec="h264", width=width,
                       height=height, options=H264)
        for mode in ("auto", "keyframe"):
            settings = FramegridSettings(sample_mode=mode, decode_device="cpu")
            times = []
            for _ in range(3):
                started = _cpu_s()
                grid = render_grid(ClipSpan(clip_id="c", video_id="v", source_uri=str(path)), settings)
                times.append(_cpu_s() - started)
            print(f"{height}p 10 s H.264, {mode:<8}: {min(times):.3f} CPU-s per clip, grid {grid.width}x"
                  f"{grid.height}, {len(grid.jpeg):,} JPEG bytes", flush=True)


if __name__ == "__main__":
    main()
