"""`python -m tests.bench.capacity_grid`: the framegrid figures docs/capacity.md plans with, quickly.

Encodes (once, cached in bench-out/) a 10 s H.264 clip at 1080p and at 720p (6 Mbps, 2 s GOP, the
framegrid benchmark's settings) and prints, per clip and sampling mode, the CPU seconds of render_grid
(open, 8 frames, compose, JPEG; best of 3) and the grid's size and JPEG bytes. In `auto` mode a 10 s clip's
eighths (1.25 s) are shorter than the GOP, so it decodes to each frame; `keyframe` is what auto does for
long clips (72 s: 9 s eighths), whose cost does not grow with the clip's length (8 seeks either way).
Then the bytes of one clip's message on each topic (model_dump_json, what the producers send uncompressed)
with MiraData-length captions from the store benchmark's rows.
"""

from __future__ import annotations

import resource
from pathlib import Path

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared.messages import Captions, ClipJob, ClipSpan, GridReady, HintReady, utcnow
from shared.store.convert import to_record
from tests.bench import store_data
from tests.bench.framegrid import H264
from tests.media.videos import make_video
from tests.store.factories import result

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
    messages()


def messages() -> None:
    clip = store_data.clip(123457)
    fields = next(store_data.rows(clip.k, clip.k + 1))[0].split("\t")
    caps = Captions(dense_caption=fields[10], main_object_caption=fields[11], background_caption=fields[12],
                    camera_caption=fields[13], style_caption=fields[14])
    done = result(clip.clip_id, "9fdd15b59ee90b3d", caps=caps, grid_sha256=clip.grid_sha256, hint=clip.hint)
    span = done.clip.model_copy(update={"source_uri": f"s3://footage/raw/{clip.video_id}.mp4"})
    grid = done.grid.model_copy(update={"uri": f"s3://mira-grids/sha256/{clip.grid_sha256[:2]}/"
                                               f"{clip.grid_sha256}.jpg"})
    done = done.model_copy(update={"clip": span, "grid": grid})
    as_dict = done.model_dump()
    for topic, message in (
        ("clips", ClipJob.model_validate({k: as_dict[k] for k in ClipJob.model_fields})),
        ("grids", GridReady.model_validate({k: as_dict[k] for k in GridReady.model_fields})),
        ("hinted", HintReady.model_validate({k: as_dict[k] for k in HintReady.model_fields})),
        ("captions", done),
        ("records", to_record(done, 1, utcnow())),
    ):
        print(f"mira.{topic}: {len(message.model_dump_json().encode()):,} bytes a message")


if __name__ == "__main__":
    main()
