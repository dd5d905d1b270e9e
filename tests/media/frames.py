"""Read back what `tests/media/videos.py` drew: which frame a picture (or a grid cell) shows, whether it is
upright, and where the picture sits inside a letterboxed cell. Tests use these to check what a user would
look at in a grid."""

from __future__ import annotations

import numpy as np

from tests.media.videos import BAND, BITS_BOTTOM, BITS_TOP, INDEX_BITS, bit_columns

BLACK = 40  # letterbox bars are black; the drawn picture's edges are gray or red


def content_box(cell: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the non-black picture inside a letterboxed cell (RGB array)."""
    bright = cell.max(axis=2) > BLACK
    cols, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
    if not len(cols):
        raise AssertionError("cell is entirely black")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_content(cell: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = content_box(cell)
    return cell[y0:y1, x0:x1]


def read_index(picture: np.ndarray) -> int:
    """The frame index drawn in an upright picture (no letterbox), read at the centre of each square."""
    h, w = picture.shape[:2]
    y = round(h * (BITS_TOP + BITS_BOTTOM) / 2)
    value = 0
    for x0, x1 in bit_columns(w):
        luma = picture[y - 1 : y + 2, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4].mean()
        value = value * 2 + int(luma > 128)
    return value


def red_side(picture: np.ndarray) -> str:
    """Which edge of the picture carries the red band: 'top' when the picture is upright."""
    h, w = picture.shape[:2]
    red = (picture[..., 0].astype(int) - picture[..., 1]) > 100
    depth_y, depth_x = max(1, round(h * BAND / 2)), max(1, round(w * BAND / 2))
    shares = {
        "top": red[:depth_y].mean(),
        "bottom": red[-depth_y:].mean(),
        "left": red[:, :depth_x].mean(),
        "right": red[:, -depth_x:].mean(),
    }
    return max(shares, key=lambda side: shares[side])


__all__ = ["INDEX_BITS", "content_box", "crop_content", "read_index", "red_side"]
