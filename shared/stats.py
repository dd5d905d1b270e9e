"""`mira stats`: how long our captions run per type, beside MiraData's own figures, which captions several
clips share word for word (a sign of a stuck prompt or a model echoing the hint), and a PNG histogram.

Figures cover each clip's newest version. Lengths are counted in whitespace-separated words and kept as a
histogram (length -> captions), so a million records take constant memory and the median and p95 are exact.
The p95 is the nearest-rank one: the length that 95% of captions do not exceed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from shared.store import RecordStore

CAPTION_TYPES = (
    "short_caption",
    "dense_caption",
    "main_object_caption",
    "background_caption",
    "camera_caption",
    "style_caption",
)
# Mean words per caption type in MiraData's released samples (reference.md).
MIRADATA_MEAN_WORDS = {
    "short_caption": 14,
    "dense_caption": 87,
    "main_object_caption": 66,
    "background_caption": 62,
    "camera_caption": 64,
    "style_caption": 30,
}


@dataclass
class TypeStats:
    caption_type: str
    lengths: Counter[int] = field(default_factory=Counter)  # words -> how many captions have that many
    shared_texts: int = 0  # distinct texts that two or more clips carry
    shared_examples: list[tuple[str, int]] = field(default_factory=list)  # (text, clips), most shared first

    @property
    def count(self) -> int:
        return sum(self.lengths.values())

    @property
    def mean(self) -> float:
        return sum(n * c for n, c in self.lengths.items()) / self.count if self.count else math.nan

    @property
    def median(self) -> float:
        n = self.count
        return (self._nth((n - 1) // 2) + self._nth(n // 2)) / 2 if n else math.nan

    @property
    def p95(self) -> float:
        return float(self._nth(math.ceil(0.95 * self.count) - 1)) if self.count else math.nan

    @property
    def reference_mean(self) -> int:
        return MIRADATA_MEAN_WORDS[self.caption_type]

    def _nth(self, k: int) -> int:
        """The k-th shortest length (0-based)."""
        seen = 0
        for words in sorted(self.lengths):
            seen += self.lengths[words]
            if seen > k:
                return words
        raise IndexError(k)


def compute(store: RecordStore, examples: int = 3) -> list[TypeStats]:
    stats = {t: TypeStats(t) for t in CAPTION_TYPES}
    for record in store.iter_records("latest"):
        for t in CAPTION_TYPES:
            text = getattr(record, t)
            if text is not None:
                stats[t].lengths[len(text.split())] += 1
    for s in stats.values():
        s.shared_texts, s.shared_examples = store.shared_captions(s.caption_type, limit=examples)
    return list(stats.values())


def report(stats: list[TypeStats]) -> str:
    lines = [
        f"{'words per caption':<22}{'captions':>9}{'mean':>8}{'median':>8}{'p95':>6}{'MiraData mean':>15}"
    ]
    for s in stats:
        reference = f"~{s.reference_mean}"
        figures = f"{s.mean:>8.1f}{s.median:>8.1f}{s.p95:>6.0f}" if s.count else f"{'-':>8}{'-':>8}{'-':>6}"
        lines.append(f"{s.caption_type:<22}{s.count:>9}{figures}{reference:>15}")
    shared = [s for s in stats if s.shared_texts]
    lines.append("")
    if not shared:
        lines.append("identical captions shared by different clips: none")
    for s in shared:
        texts = f"{s.shared_texts} text" + ("s" if s.shared_texts > 1 else "")
        lines.append(f"identical {s.caption_type} shared by different clips: {texts}, e.g.")
        lines += [f"  {clips} clips: {_clip(text, 90)!r}" for text, clips in s.shared_examples]
    return "\n".join(lines)


_PANEL_W, _PANEL_H, _COLS, _BINS = 420, 260, 3, 30
_MARGIN_L, _MARGIN_T, _MARGIN_B = 40, 30, 34
_Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
_BAR, _OURS, _THEIRS, _INK = (86, 132, 196), (30, 60, 160), (205, 50, 40), (40, 40, 40)


def write_histogram(stats: list[TypeStats], path: Path) -> None:
    """One panel per caption type: caption lengths in words, our mean (blue) and MiraData's (red, dashed)."""
    rows = math.ceil(len(stats) / _COLS)
    image = Image.new("RGB", (_PANEL_W * _COLS, _PANEL_H * rows + 24), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    draw.text(
        (8, _PANEL_H * rows + 4), "words per caption; blue: our mean, red dashed: MiraData mean", _INK, font
    )
    for i, s in enumerate(stats):
        _panel(draw, font, s, (i % _COLS) * _PANEL_W, (i // _COLS) * _PANEL_H)
    image.save(path, format="PNG")


def _panel(draw: ImageDraw.ImageDraw, font: _Font, s: TypeStats, x0: int, y0: int) -> None:
    left, top = x0 + _MARGIN_L, y0 + _MARGIN_T
    width, height = _PANEL_W - _MARGIN_L - 16, _PANEL_H - _MARGIN_T - _MARGIN_B
    bottom = top + height
    bin_words = math.ceil((max([*s.lengths, s.reference_mean]) + 1) / _BINS)  # up to _BINS bars
    bins: Counter[int] = Counter()
    for words, n in s.lengths.items():
        bins[words // bin_words] += n
    tallest = max(bins.values(), default=0)
    x_end = bin_words * _BINS

    def x_at(words: float) -> float:
        return left + words * width / x_end

    draw.text((left, y0 + 8), f"{s.caption_type}  (n={s.count})", _INK, font)
    draw.line([(left, bottom), (left + width, bottom)], _INK)
    for b, n in bins.items():
        bar_top = bottom - height * n / tallest
        draw.rectangle([x_at(b * bin_words) + 1, bar_top, x_at((b + 1) * bin_words) - 1, bottom], fill=_BAR)
    if s.count:
        draw.line([(x_at(s.mean), top), (x_at(s.mean), bottom)], _OURS, width=2)
    ref = x_at(s.reference_mean)
    for y in range(top, bottom, 8):  # dashed
        draw.line([(ref, y), (ref, min(y + 4, bottom))], _THEIRS, width=2)
    draw.text((left, bottom + 4), "0", _INK, font)
    draw.text((left + width - 24, bottom + 4), str(x_end), _INK, font)
    draw.text((x0 + 4, top), str(tallest), _INK, font)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
