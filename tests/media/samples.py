"""`python -m tests.media.samples DIR`: writes a handful of small sample clips for `make run` (skips files
already there), so a fresh clone can caption something without downloading video."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.media.videos import make_video

SAMPLES: dict[str, dict[str, object]] = {
    "city-h264.mp4": {"codec": "h264", "seconds": 4.0, "fps": 24, "width": 320, "height": 180},
    "beach-vp9.webm": {"codec": "vp9", "seconds": 4.0, "fps": 24, "width": 320, "height": 180},
    "phone-portrait.mp4": {
        "codec": "h264",
        "seconds": 3.0,
        "fps": 30,
        "width": 180,
        "height": 320,
        "rotation": 90,
    },
    "long-h264.mp4": {"codec": "h264", "seconds": 30.0, "fps": 24, "width": 480, "height": 270, "gop": 48},
}


def write_samples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, spec in SAMPLES.items():
        path = directory / name
        if not path.exists() or path.stat().st_size == 0:
            make_video(path, **spec)  # type: ignore[arg-type]
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.media.samples DIR", file=sys.stderr)
        return 2
    written = write_samples(Path(argv[0]))
    print(f"{len(written)} sample clip(s) written to {argv[0]}, {len(SAMPLES) - len(written)} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
