"""The failures page (failed records from the store, always; dead letters while a pipeline runs) and the
stats page (shared/stats.py's figures and histogram, plus tokens and cost per model and prompt version)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from review.web import blocking, render, state
from shared import stats
from shared.deadletters import read_dead_letters
from shared.messages import DeadLetter
from shared.store import browse

STATS_TTL_S = 60.0


@dataclass
class LetterGroup:
    stage: str
    reason: str
    count: int = 0
    clip_ids: list[str] = field(default_factory=list)


def group_letters(letters: list[DeadLetter], examples: int = 12) -> list[LetterGroup]:
    groups: dict[tuple[str, str], LetterGroup] = {}
    for letter in letters:
        key = (letter.stage, letter.reason)
        group = groups.setdefault(key, LetterGroup(*key))
        group.count += 1
        if letter.clip_id and letter.clip_id not in group.clip_ids and len(group.clip_ids) < examples:
            group.clip_ids.append(letter.clip_id)
    return sorted(groups.values(), key=lambda g: (-g.count, g.stage, g.reason))


async def failures(request: web.Request) -> web.Response:
    from cli.connect import running_settings  # the CLI's own answer to "is a pipeline running here?"

    review = state(request)
    failed = await blocking(browse.failures, review.store)
    pipeline = await blocking(running_settings)
    letters, letters_error = None, None
    if pipeline is not None:
        try:
            letters = group_letters(await asyncio.wait_for(read_dead_letters(pipeline), 30))
        except Exception as exc:  # noqa: BLE001 (broker gone or slow: the stored failures still show)
            letters_error = f"{type(exc).__name__}: {exc}"
    return render(request, "failures.html", failed=failed, letters=letters, letters_error=letters_error,
                  running=pipeline is not None)


async def _figures(request: web.Request) -> list[stats.TypeStats]:
    """stats.compute reads every clip's newest version (a minute at a million): the page and its histogram
    image, requested one after the other, share one reading for STATS_TTL_S."""
    review = state(request)
    cached = review.stats_cache
    if cached is not None and time.monotonic() - cached[0] < STATS_TTL_S:
        return cached[1]
    figures = await blocking(stats.compute, review.store)
    review.stats_cache = (time.monotonic(), figures)
    return figures


async def stats_page(request: web.Request) -> web.Response:
    review = state(request)
    figures = await _figures(request)
    usage = await blocking(browse.usage, review.store)
    return render(request, "stats.html", figures=figures, usage=usage)


async def histogram(request: web.Request) -> web.Response:
    """The PNG `mira stats -o` writes, drawn by the same code."""
    figures = await _figures(request)
    return web.Response(body=await blocking(_png, figures), content_type="image/png",
                        headers={"Cache-Control": "no-store"})


def _png(figures: list[stats.TypeStats]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "histogram.png"
        stats.write_histogram(figures, path)
        return path.read_bytes()
