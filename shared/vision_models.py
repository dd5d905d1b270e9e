"""What a vision model charges for an image and for tokens, per model family.

The framegrid stage uses it to pick a grid size the API will not resize (so the image sent is the image
billed), the caption stage to estimate cost. Two billing rules exist (OpenAI's vision docs; see
shared/reference.md): 512 px tiles (GPT-4o class, o-series, gpt-4o-mini with a large multiplier) and
32 px patches times a multiplier (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano). Providers change these
numbers: MIRA_MODEL_TABLE names a JSON file whose entries replace or extend the built-in table, e.g.
`{"my-model": {"rule": "patch", "multiplier": 1.2, "input_per_m": 0.3, "output_per_m": 1.2}, "*": {...}}`;
"*" is the entry for unknown models (GPT-4o rule and price unless overridden).
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

TILE, TILE_MAX, SHORT_SIDE_MAX = 512, 2048, 768
PATCH = 32


class VisionModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Literal["tile", "patch"] = "tile"
    base_tokens: int = 85  # tile rule: tokens per image, plus tile_tokens per 512 px tile
    tile_tokens: int = 170
    multiplier: float = 1.0  # patch rule: tokens per 32 px patch
    max_patches: int = 1536  # patch rule: larger images are scaled down to this many patches
    input_per_m: float = 2.50  # USD per 1M input tokens
    output_per_m: float = 10.00  # USD per 1M output tokens


def _tile(base: int, tile: int, inp: float, out: float) -> VisionModel:
    return VisionModel(rule="tile", base_tokens=base, tile_tokens=tile, input_per_m=inp, output_per_m=out)


def _patch(multiplier: float, inp: float, out: float) -> VisionModel:
    return VisionModel(rule="patch", multiplier=multiplier, input_per_m=inp, output_per_m=out)


# The model name of Mira's local offline model (cli/localmodel), whose placeholder captions cost nothing.
PLACEHOLDER_MODEL = "mira-placeholder"

# Dated snapshots ("gpt-4o-2024-08-06") resolve to the longest matching name below.
BUILTIN: dict[str, VisionModel] = {
    "*": _tile(85, 170, 2.50, 10.00),
    PLACEHOLDER_MODEL: _tile(85, 170, 0.0, 0.0),
    "gpt-4o": _tile(85, 170, 2.50, 10.00),
    "chatgpt-4o-latest": _tile(85, 170, 5.00, 15.00),
    "gpt-4o-mini": _tile(2833, 5667, 0.15, 0.60),
    "gpt-4-turbo": _tile(85, 170, 10.00, 30.00),
    "gpt-4.1": _tile(85, 170, 2.00, 8.00),
    "gpt-4.1-mini": _patch(1.62, 0.40, 1.60),
    "gpt-4.1-nano": _patch(2.46, 0.10, 0.40),
    "gpt-4.5-preview": _tile(85, 170, 75.00, 150.00),
    "o1": _tile(75, 150, 15.00, 60.00),
    "o3": _tile(75, 150, 2.00, 8.00),
    "o4-mini": _patch(1.72, 1.10, 4.40),
    "gpt-5": _tile(70, 140, 1.25, 10.00),
    # Billed multipliers as measured against the API; the docs' 1.62/2.46 over-state them.
    "gpt-5-mini": _patch(1.2, 0.25, 2.00),
    "gpt-5-nano": _patch(1.5, 0.05, 0.40),
}


@lru_cache(maxsize=8)
def _table(path: str | None) -> dict[str, VisionModel]:
    table = dict(BUILTIN)
    if path:
        for name, spec in json.loads(Path(path).read_text()).items():
            base = table.get(name, BUILTIN["*"]).model_dump()
            table[name] = VisionModel(**(base | spec))
    return table


def model_spec(model: str) -> VisionModel:
    """The entry for `model`: exact name, else the longest name it starts with, else "*"."""
    table = _table(os.environ.get("MIRA_MODEL_TABLE") or None)
    if model in table:
        return table[model]
    prefixes = [name for name in table if name != "*" and model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else table["*"]


def image_tokens(model: str, width: int, height: int, detail: str = "high") -> int:
    """Input tokens the model bills for one width x height image."""
    spec = model_spec(model)
    if spec.rule == "patch":  # detail has no effect on patch-billed models
        return round(_patches(width, height, spec.max_patches) * spec.multiplier)
    if detail == "low":
        return spec.base_tokens
    w, h = float(width), float(height)
    if max(w, h) > TILE_MAX:  # the API first fits the image in 2048 x 2048 ...
        w, h = w * TILE_MAX / max(w, h), h * TILE_MAX / max(w, h)
    if min(w, h) > SHORT_SIDE_MAX:  # ... then shrinks it until the short side is 768
        w, h = w * SHORT_SIDE_MAX / min(w, h), h * SHORT_SIDE_MAX / min(w, h)
    tiles = math.ceil(w / TILE) * math.ceil(h / TILE)
    return spec.base_tokens + spec.tile_tokens * tiles


def _patches(width: int, height: int, cap: int) -> int:
    patches = math.ceil(width / PATCH) * math.ceil(height / PATCH)
    if patches <= cap:
        return patches
    shrink = math.sqrt(PATCH * PATCH * cap / (width * height))
    w, h = width * shrink / PATCH, height * shrink / PATCH
    shrink *= min(math.floor(w) / w, math.floor(h) / h)  # whole patches on the tighter side
    return min(cap, math.ceil(width * shrink / PATCH) * math.ceil(height * shrink / PATCH))


def grid_size_for(model: str, tile_budget: int, aspect: float) -> tuple[int, int]:
    """The largest image of about `aspect` (width / height) the API bills as-is, within the budget.

    For tile-billed models the budget is a number of 512 px tiles, and the size respects the API's
    2048 px and 768 px short-side limits, so the image is never resized and costs exactly
    `image_tokens(model, w, h)`. For patch-billed models the same budget means the same pixel area
    (256 patches per tile), capped at the model's patch limit.
    """
    if tile_budget < 1 or aspect <= 0:
        raise ValueError("tile_budget must be >= 1 and aspect > 0")
    spec = model_spec(model)
    if spec.rule == "patch":
        budget = min(tile_budget * (TILE // PATCH) ** 2, spec.max_patches)
        boxes = [(cols * PATCH, (budget // cols) * PATCH) for cols in range(1, budget + 1)]
    else:
        side = TILE_MAX // TILE
        boxes = [
            (tx * TILE, ty * TILE)
            for tx in range(1, side + 1)
            for ty in range(1, side + 1)
            if tx * ty <= tile_budget
        ]
    best = max((_fit(box, aspect, spec.rule) for box in boxes), key=lambda wh: (wh[0] * wh[1], -wh[1]))
    return best


def _fit(box: tuple[int, int], aspect: float, rule: str) -> tuple[int, int]:
    """Largest width x height of the given aspect inside box (and, for tiles, under the 768 px short side)."""
    w = min(box[0], box[1] * aspect)
    if rule == "tile":
        w = min(w, SHORT_SIDE_MAX * max(aspect, 1.0))
    w_px = max(1, math.floor(w))
    return w_px, max(1, min(box[1], math.floor(w_px / aspect)))


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    spec = model_spec(model)
    return (input_tokens * spec.input_per_m + output_tokens * spec.output_per_m) / 1_000_000
