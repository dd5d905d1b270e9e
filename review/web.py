"""What every handler of the review page shares: the app's state (keys), template rendering, and running
blocking store calls off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2
from aiohttp import web

from review import highlight
from review.auth import Guard
from review.settings import ReviewSettings
from shared.blobstore import BlobStore
from shared.settings import Settings
from shared.stats import TypeStats
from shared.store import RecordStore

T = TypeVar("T")


@dataclass
class Review:
    settings: Settings
    review: ReviewSettings
    store: RecordStore
    blobs: BlobStore
    guard: Guard
    templates: jinja2.Environment
    stats_cache: tuple[float, list[TypeStats]] | None = None  # (monotonic time, figures): see reports.py


REVIEW = web.AppKey("review", Review)


def state(request: web.Request) -> Review:
    return request.app[REVIEW]


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Store reads are synchronous SQLAlchemy: run them in a thread so other pages keep loading."""
    return await asyncio.to_thread(fn, *args)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    review = state(request)
    html = review.templates.get_template(template).render(
        request=request, csrf=review.guard.csrf_token(request), login=review.guard.required, **context
    )
    return web.Response(text=html, status=status, content_type="text/html")


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("review", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["words"] = lambda text: len(text.split()) if text else 0
    env.filters["marked"] = highlight.pieces  # caption text with the quality rules' offending words
    return env
