"""Send back: publish recaption requests for the clips ticked in the gallery, or for everything its filter
matches, after a page that shows how many clips and what they would cost (the estimate `mira recaption
--dry-run` prints). Publishing needs a running pipeline; without one the page says how to start it.

A whole filtered view may hold millions of clips, but a Kafka message should stay small: the clip ids go
out in requests of REQUEST_CLIPS each, with ids derived from one id made for the preview, so sending the
same form twice publishes the same requests again, which create no extra versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

import prompt
from review import filters
from review.web import blocking, render, state
from shared.messages import CaptionRecord, RecaptionRequest
from shared.store import RecordStore, browse

REQUEST_CLIPS = 1000
_MODEL = re.compile(r"[A-Za-z0-9._:/@+-]{1,200}")


@dataclass(frozen=True)
class Choice:
    """What the form asks for: which clips, and how to caption them again."""

    scope: str  # "selected" or "filter"
    clip_ids: list[str]
    where: browse.GalleryFilter
    model: str | None  # None: the caption service's MIRA_CAPTION_MODEL
    stale_only: bool  # skip clips already captioned with the current prompt version

    def records(self, store: RecordStore) -> Iterator[CaptionRecord]:
        chosen = store.select(clip_ids=self.clip_ids) if self.scope == "selected" else browse.matching(store, self.where)
        return (r for r in chosen if not self.stale_only or r.prompt_version != prompt.PROMPT_VERSION)

    def requests(self, store: RecordStore, request_id: str) -> list[RecaptionRequest]:
        ids = (r.clip_id for r in self.records(store))
        chunks = list(iter(lambda: list(islice(ids, REQUEST_CLIPS)), []))
        return [
            RecaptionRequest(
                request_id=request_id if len(chunks) == 1 else f"{request_id}-{n}", clip_ids=chunk,
                model=self.model, prompt_version_not=prompt.PROMPT_VERSION if self.stale_only else None,
            )
            for n, chunk in enumerate(chunks, 1)
        ]


def _choice(form: MultiDictProxy[Any]) -> Choice:
    texts = {k: v for k, v in form.items() if isinstance(v, str)}
    scope = texts.get("scope", "")
    clip_ids = [v for v in form.getall("clip", []) if isinstance(v, str) and v]
    if scope not in ("selected", "filter"):
        raise web.HTTPBadRequest(text="scope must be 'selected' or 'filter'")
    if scope == "selected" and not clip_ids:
        raise web.HTTPBadRequest(text="tick at least one clip, or send back the whole filter")
    model = texts.get("with_model", "").strip() or None
    if model is not None and not _MODEL.fullmatch(model):
        raise web.HTTPBadRequest(text="with_model is not a model name")
    return Choice(scope, clip_ids, filters.from_query(texts), model, texts.get("stale_only") == "on")


def estimate(records: Iterator[CaptionRecord], model: str) -> tuple[int, float]:
    """Clips and estimated cost of captioning them again with `model`: each at its own recorded token
    counts, or a typical grid's when it has none (it failed before the model answered)."""
    from cli.recaption import TYPICAL_GRID
    from services.caption.request import estimate_usage
    from services.caption.settings import CaptionSettings
    from shared.vision_models import cost_usd

    typical = estimate_usage(model, *TYPICAL_GRID, CaptionSettings())
    clips, cost = 0, 0.0
    for r in records:
        clips += 1
        cost += cost_usd(model, r.input_tokens or typical.input_tokens, r.output_tokens or typical.output_tokens)
    return clips, cost


async def _checked(request: web.Request) -> tuple[MultiDictProxy[Any], Choice]:
    form = await request.post()
    if not state(request).guard.csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="the form's CSRF token is missing or stale: reload the page and try again")
    return form, _choice(form)


async def preview(request: web.Request) -> web.Response:
    from cli.connect import running_settings
    from services.caption.settings import CaptionSettings
    from services.ingest.sources import new_request_id

    _, choice = await _checked(request)
    review = state(request)
    model = choice.model or CaptionSettings().caption_model
    clips, cost = await blocking(lambda: estimate(choice.records(review.store), model))
    running = await blocking(running_settings) is not None
    return render(request, "sendback.html", choice=choice, clips=clips, cost=cost, model=model, running=running,
                  request_id=new_request_id(), fields=_fields(choice), published=None,
                  prompt_version=prompt.PROMPT_VERSION)


async def publish(request: web.Request) -> web.Response:
    from cli.connect import running_settings
    from shared.kafka import publish_all

    form, choice = await _checked(request)
    request_id = str(form.get("request_id", ""))
    if not re.fullmatch(r"[0-9a-f]{16}", request_id):
        raise web.HTTPBadRequest(text="request_id must come from the preview page")
    review = state(request)
    settings = await blocking(running_settings)
    if settings is None:
        return render(request, "sendback.html", status=409, choice=choice, clips=None, cost=None, model=None,
                      running=False, request_id=request_id, fields=[], published=None,
                      prompt_version=prompt.PROMPT_VERSION)
    requests = await blocking(choice.requests, review.store, request_id)
    await publish_all(settings, requests)
    return render(request, "sendback.html", choice=choice, clips=sum(len(r.clip_ids) for r in requests),
                  cost=None, model=choice.model, running=True, request_id=request_id, fields=[],
                  published=[r.request_id for r in requests], prompt_version=prompt.PROMPT_VERSION)


def _fields(choice: Choice) -> list[tuple[str, str]]:
    """The hidden fields that carry the choice from the preview to the publish form."""
    fields = [("scope", choice.scope), *(("clip", c) for c in choice.clip_ids)]
    fields += list(filters.to_query(choice.where).items())
    fields += [("with_model", choice.model)] if choice.model else []
    return fields + ([("stale_only", "on")] if choice.stale_only else [])
