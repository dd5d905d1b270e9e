"""`mira grid VIDEO [--start S --end S] -o grid.jpg`: render one clip's grid, no Kafka involved."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.commands import SUMMARY
from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from services.ingest.sources import normalize_uri
from shared import ids
from shared.messages import ClipSpan
from shared.runtime.errors import BadInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grid", help=SUMMARY["grid"])
    p.add_argument("video", help="path or URL")
    p.add_argument("--start", type=float, default=0.0, metavar="S")
    p.add_argument("--end", type=float, default=None, metavar="S")
    p.add_argument("--mode", choices=["auto", "exact", "keyframe"], default=None)
    p.add_argument("-o", "--output", type=Path, required=True)


def run(args: argparse.Namespace) -> int:
    settings = FramegridSettings()
    if args.mode:
        settings = settings.model_copy(update={"sample_mode": args.mode})
    try:
        uri = normalize_uri(args.video)
        clip = ClipSpan(clip_id=ids.clip_id_for(uri, args.start, args.end), video_id=ids.video_id_for(uri),
                        source_uri=uri, start_s=args.start, end_s=args.end)
        grid = render_grid(clip, settings)
    except BadInput as exc:
        print(f"mira grid: {args.video}: {exc.reason}", file=sys.stderr)
        return 1
    args.output.write_bytes(grid.jpeg)
    times = ", ".join(f"{t:.2f}" for t in grid.frame_times_s)
    print(f"{args.output}: {grid.width}x{grid.height}, {grid.image_tokens} image tokens for {grid.model}; "
          f"{grid.video.width}x{grid.video.height} {grid.video.codec} at {grid.video.fps:.3g} fps; "
          f"frames at {times} s ({grid.sample_mode})")
    return 0
