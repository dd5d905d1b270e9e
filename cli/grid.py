"""`mira grid VIDEO [--start S --end S] -o grid.jpg`: render one clip's grid, no Kafka involved.

CPU decoding is the normal case here: the device is logged at debug level unless MIRA_DECODE_DEVICE=cuda
asked for the GPU (and then a missing one is an error)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cli.commands import SUMMARY

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grid", help=SUMMARY["grid"], description=__doc__)
    p.add_argument("video", help="path or http(s)/s3 URL of the video")
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="clip start in seconds (default 0)")
    p.add_argument("--end", type=float, default=None, metavar="S", help="clip end in seconds (default: end of file)")
    p.add_argument("--mode", choices=["auto", "exact", "keyframe"], default=None,
                   help="frame sampling (default MIRA_SAMPLE_MODE): exact frames, nearest keyframes, or auto")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="JPEG",
                   help="where to write the grid; missing folders are created")


def run(args: argparse.Namespace) -> int:
    from cli.reach import dns_problem
    from services.framegrid.render import render_grid
    from services.framegrid.settings import FramegridSettings
    from services.ingest.sources import normalize_uri
    from shared import ids
    from shared.messages import ClipSpan
    from shared.runtime.errors import BadInput, Fatal
    from shared.video.source import cuda_available

    settings = FramegridSettings()
    if args.mode:
        settings = settings.model_copy(update={"sample_mode": args.mode})
    if settings.decode_device == "auto":  # decide here, quietly: no GPU is no news for one grid
        settings = settings.model_copy(update={"decode_device": "cuda" if cuda_available() else "cpu"})
    log.debug("decode device: %s", settings.decode_device)
    try:
        uri = normalize_uri(args.video)
        problem = dns_problem(uri)
        if problem:
            raise BadInput(problem)
        clip = ClipSpan(clip_id=ids.clip_id_for(uri, args.start, args.end), video_id=ids.video_id_for(uri),
                        source_uri=uri, start_s=args.start, end_s=args.end)
        grid = render_grid(clip, settings)
    except (BadInput, Fatal) as exc:
        print(f"mira grid: {args.video}: {exc.reason}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(grid.jpeg)
    times = ", ".join(f"{t:.2f}" for t in grid.frame_times_s)
    print(f"{args.output}: {grid.width}x{grid.height}, {grid.image_tokens} image tokens for {grid.model}; "
          f"{grid.video.width}x{grid.video.height} {grid.video.codec} at {grid.video.fps:.3g} fps; "
          f"frames at {times} s ({grid.sample_mode}, {settings.decode_device} decode)")
    return 0
