"""Small, fast generators of test videos made with PyAV's own encoders, so every test decodes real files.

Every frame shows measurable content (see `draw_frame`): a red band along the top edge of the upright
picture (so a test can tell whether rotation was applied) and the frame index written as a row of 12
black/white squares (so a test can tell which time a grid cell came from). `tests/media/frames.py`
reads both back from a decoded picture or a grid cell.
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

Codec = Literal["h264", "hevc", "vp9", "av1", "mpeg4"]
Container = Literal["mp4", "webm", "mkv"]

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder unless told errors only

INDEX_BITS = 12  # frame indices up to 4095: 100 s at 40 fps
BAND = 0.2  # the red band's share of the picture height
BITS_TOP, BITS_BOTTOM = 0.45, 0.75  # the index squares' rows, as shares of the height
MARGIN = 0.08  # gray margin left and right of the squares, so the picture's edges are never black
BACKGROUND = 128

_ENCODERS: dict[str, str] = {
    "h264": "libx264",
    "hevc": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "mpeg4": "mpeg4",
}
# Fastest settings of each encoder: tests need real bitstreams, not good compression.
_OPTIONS: dict[str, dict[str, str]] = {
    "h264": {"preset": "ultrafast", "tune": "zerolatency"},
    "hevc": {"preset": "ultrafast", "x265-params": "log-level=error:scenecut=0"},
    "vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
    "av1": {"preset": "12"},
    "mpeg4": {"qscale": "3"},
}


def bit_columns(width: int) -> list[tuple[int, int]]:
    """x ranges [x0, x1) of the 12 index squares in a picture `width` pixels wide (most significant first)."""
    left, span = width * MARGIN, width * (1 - 2 * MARGIN)
    return [
        (round(left + span * i / INDEX_BITS), round(left + span * (i + 1) / INDEX_BITS))
        for i in range(INDEX_BITS)
    ]


def draw_frame(index: int, width: int, height: int, texture: np.ndarray | None = None) -> np.ndarray:
    """The upright picture of frame `index` as an RGB array (height, width, 3).

    With a `texture` (see `make_texture`) the background is a window of it panning 2 px per frame, so
    encoders and decoders do the work real footage costs them.
    """
    if texture is None:
        img = np.full((height, width, 3), BACKGROUND, np.uint8)
    else:
        x = (2 * index) % (texture.shape[1] - width)
        img = texture[:height, x : x + width].copy()
    img[: max(1, round(height * BAND))] = (220, 30, 30)
    y0, y1 = round(height * BITS_TOP), round(height * BITS_BOTTOM)
    for bit, (x0, x1) in enumerate(bit_columns(width)):
        on = (index >> (INDEX_BITS - 1 - bit)) & 1
        img[y0:y1, x0:x1] = 255 if on else 0
    return img


def make_texture(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Gray-ish detail for panning backgrounds: smooth blobs plus fine grain, never black."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(70, 190, (height // 16 + 2, width // 16 + 2, 3), dtype=np.uint8)
    smooth = np.repeat(np.repeat(coarse, 16, axis=0), 16, axis=1)[:height, :width].astype(np.int16)
    grain = rng.integers(-12, 13, (height, width, 1), dtype=np.int16)
    return np.clip(smooth + grain, 60, 200).astype(np.uint8)


def _grains(width: int, height: int, count: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.integers(-6, 7, (height, width, 1), dtype=np.int16) for _ in range(count)]


def frame_times(seconds: float, fps: float, vfr: bool = False) -> list[float]:
    """Presentation time of every frame `make_video` writes. With `vfr` the second half runs at fps/3."""
    times: list[float] = []
    t = 0.0
    while t < seconds - 1e-9:
        times.append(round(t, 6))
        t += (3.0 if vfr and t >= seconds / 2 else 1.0) / fps
    return times


def make_video(
    path: str | Path,
    *,
    codec: Codec = "h264",
    seconds: float = 2.0,
    fps: float = 12,
    width: int = 160,
    height: int = 96,
    container: Container | None = None,
    gop: int | None = None,
    rotation: int | None = None,
    pix_fmt: str | None = None,
    sar: tuple[int, int] | None = None,
    vfr: bool = False,
    live: bool = False,
    textured: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a test video whose frame i shows index i (see `draw_frame`) at time `frame_times(...)[i]`.

    `width`/`height` are the upright picture's size in stored pixels; `rotation` (0/90/180/270, clockwise, the phone
    convention of the old `rotate` tag) stores the pixels turned and writes a display matrix telling
    players to turn them back (not combined with `sar`). `sar` sets non-square pixels (shown
    width * sar[0] / sar[1] wide); `vfr` makes the frame rate variable;
    `gop` is the keyframe interval in frames; `live` writes WebM/MKV without duration or cues;
    `textured` pans a detailed background (realistic bitrates); `options` override encoder options.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = container or path.suffix.lstrip(".") or "mp4"
    turns = (rotation or 0) // 90 % 4
    if turns and sar:
        raise ValueError("rotation with non-square pixels is not generated")
    coded_w, coded_h = (height, width) if turns % 2 else (width, height)
    rate = Fraction(fps).limit_denominator(1001)
    muxer_options = {"live": "1"} if live else {}
    with av.open(str(path), "w", format="matroska" if fmt == "mkv" else fmt, options=muxer_options) as out:
        stream = out.add_stream(_ENCODERS[codec], rate=rate, options=_OPTIONS[codec] | (options or {}))
        stream.width, stream.height = coded_w, coded_h
        stream.pix_fmt = pix_fmt or "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if gop:
            stream.gop_size = gop
        if sar:
            stream.codec_context.sample_aspect_ratio = Fraction(*sar)
        if turns:
            stream.set_display_rotation(-90 * turns)  # FFmpeg counts counterclockwise
        display_w = round(width * sar[0] / sar[1]) if sar else width  # what a player shows after SAR
        times = frame_times(seconds, fps, vfr)
        texture = make_texture(display_w + 2 * len(times) + 1, height) if textured else None
        grains = _grains(display_w, height) if textured else None
        for i, t in enumerate(times):
            picture = draw_frame(i, display_w, height, texture)
            if grains is not None:  # sensor noise differs every frame: P-frames cost what real ones do
                picture = np.clip(picture + grains[i % len(grains)], 0, 255).astype(np.uint8)
            if sar:
                picture = _resize(picture, width, height)  # the anamorphic squeeze into stored pixels
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(np.rot90(picture, k=turns)), format="rgb24"
            )
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame.reformat(format=stream.pix_fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize: how an anamorphic camera squeezes the picture into its stored pixels."""
    ys = np.arange(height) * img.shape[0] // height
    xs = np.arange(width) * img.shape[1] // width
    return img[ys][:, xs]


def make_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An AAC-in-MP4 file with no video stream (a podcast in a video folder)."""
    path = Path(path)
    rate = 48000
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_corrupt(path: str | Path, *, seconds: float = 3.0) -> Path:
    """A playable-looking H.264 MP4 whose middle fifth (packet payloads) is overwritten with random bytes."""
    path = make_video(path, seconds=seconds, fps=12, gop=12)
    data = bytearray(path.read_bytes())
    start, end = len(data) * 2 // 5, len(data) * 3 // 5
    data[start:end] = random.Random(7).randbytes(end - start)
    path.write_bytes(bytes(data))
    return path


def make_truncated(src: str | Path, dst: str | Path, fraction: float = 0.5) -> Path:
    """The first `fraction` of `src`'s bytes: an interrupted download or copy."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def make_zero_bytes(path: str | Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def make_not_video(path: str | Path) -> Path:
    """A text file with a video's name."""
    Path(path).write_text("this is a shopping list, not a video\n" * 50)
    return Path(path)
