"""Footage with known shot boundaries, for the split stage's tests and its benchmark.

Each shot is its own generated scene (a smooth colour field of its own palette, a camera moving over it,
and coloured blocks moving across), so every shot is distinct footage; shots meet by a hard cut, a fade
through black or a dissolve, whose middle is the true boundary. Negatives go inside shots: fast pans,
flashes (three frames washed out white) and a dark subject passing close to the lens.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image

Motion = Literal["slow", "fast", "still"]
PAN_PER_S = {"slow": 0.06, "fast": 1.6, "still": 0.0}  # camera speed in picture widths per second
PASS_S = 0.6  # how long a close subject takes to cross the picture
FLASH_FRAMES = 3
FAST = {"preset": "ultrafast", "tune": "zerolatency"}  # test footage: quick to make
REALISTIC = {"preset": "veryfast"}  # benchmark footage: B-frames and CABAC, as cameras and uploads have


@dataclass(frozen=True)
class Shot:
    seconds: float
    seed: int
    motion: Motion = "slow"
    flashes: tuple[float, ...] = ()  # times within the shot
    passes: tuple[float, ...] = ()


@dataclass(frozen=True)
class Transition:
    kind: Literal["cut", "fade", "dissolve"] = "cut"
    seconds: float = 0.0


@dataclass(frozen=True)
class Truth:
    time_s: float
    gradual: bool


CUT = Transition()


class Scene:
    """One shot's picture at any time within it."""

    def __init__(self, shot: Shot, width: int, height: int) -> None:
        rng = np.random.default_rng(shot.seed)
        hue = rng.random()
        cells = rng.random((9, 24, 3))
        colours = np.array([[colorsys.hsv_to_rgb((hue + 0.12 * (c[0] - 0.5)) % 1, 0.35 + 0.6 * c[1],
                                                 0.3 + 0.65 * c[2]) for c in row] for row in cells])
        size = (3 * width, int(height * 1.25))
        self.texture = np.asarray(Image.fromarray((colours * 255).astype(np.uint8)).resize(size, Image.BILINEAR))
        self.blocks = [(rng.random(2), (rng.random(2) - 0.5) * 0.5, rng.integers(0, 256, 3), 0.08 + 0.1 * rng.random())
                       for _ in range(4)]
        self.shot, self.w, self.h = shot, width, height
        self.xs, self.ys = np.arange(width), np.arange(height)

    def at(self, t: float, fps: float) -> np.ndarray:
        w, h, shot = self.w, self.h, self.shot
        x0 = round(PAN_PER_S[shot.motion] * w * t)
        y0 = round((self.texture.shape[0] - h) * (0.5 + 0.5 * np.sin(t / 3)))
        img = self.texture[y0 : y0 + h][:, (x0 + self.xs) % self.texture.shape[1]].astype(np.float32)
        for (px, py), (vx, vy), colour, size in self.blocks:
            cx, cy = (px + vx * t) % 1.2 - 0.1, (py + vy * t) % 1.2 - 0.1
            bw, bh = round(size * w), round(size * h * 1.5)
            x, y = round(cx * w), round(cy * h)
            img[max(y, 0) : max(y + bh, 0), max(x, 0) : max(x + bw, 0)] = colour
        for start in shot.passes:
            if start <= t < start + PASS_S:
                cx = (-0.6 + 2.2 * (t - start) / PASS_S) * w
                inside = ((self.xs - cx) / (0.45 * w))[None, :] ** 2 + ((self.ys - h / 2) / (0.8 * h))[:, None] ** 2 < 1
                img[inside] = (45, 35, 30)
        for start in shot.flashes:
            if start <= t < start + FLASH_FRAMES / fps:
                img = img * 0.25 + 190
        return img


def timeline(shots: Sequence[Shot], transitions: Sequence[Transition]) -> list[Truth]:
    bounds = np.cumsum([s.seconds for s in shots])[:-1]
    return [Truth(round(float(b), 6), tr.kind != "cut") for b, tr in zip(bounds, transitions, strict=True)]


def pictures(shots: Sequence[Shot], transitions: Sequence[Transition], width: int, height: int,
             fps: float) -> Iterator[np.ndarray]:
    scenes = [Scene(s, width, height) for s in shots]
    starts = np.concatenate([[0.0], np.cumsum([s.seconds for s in shots])])
    for n in range(round(starts[-1] * fps)):
        t = n / fps
        k = int(np.searchsorted(starts, t, side="right")) - 1
        img = scenes[k].at(t - starts[k], fps)
        for b, tr in ((b, tr) for b, tr in ((k, transitions[k - 1] if k else None),
                                            (k + 1, transitions[k] if k < len(transitions) else None)) if tr):
            c, half = starts[b], tr.seconds / 2
            if tr.kind == "cut" or not c - half <= t < c + half:
                continue
            p = (t - (c - half)) / tr.seconds  # 0 to 1 through the transition
            a, z = scenes[b - 1].at(t - starts[b - 1], fps), scenes[b].at(t - starts[b], fps)
            if tr.kind == "dissolve":
                img = (1 - p) * a + p * z
            else:  # fade: out to black over 45%, black for 10%, in over 45%
                img = a * max(0.0, 1 - p / 0.45) if p < 0.5 else z * max(0.0, (p - 0.55) / 0.45)
        yield np.clip(img, 0, 255).astype(np.uint8)


def make_footage(path: str | Path, shots: Sequence[Shot], transitions: Sequence[Transition] = (), *,
                 width: int = 160, height: int = 90, fps: float = 10, options: dict[str, str] | None = None
                 ) -> list[Truth]:
    """Encode the shots (H.264) and return the true boundaries. Cuts between all shots unless told."""
    transitions = list(transitions) or [CUT] * (len(shots) - 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "matroska" if path.suffix == ".mkv" else None
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options=options or FAST)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for picture in pictures(shots, transitions, width, height, fps):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return timeline(shots, transitions)
