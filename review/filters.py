"""The gallery's filters live in the URL (a view can be shared by its link): query string <-> GalleryFilter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from aiohttp import web

from shared.messages import CaptionStatus, HintSource
from shared.store.browse import GalleryFilter

STATUSES: tuple[str, ...] = get_args(CaptionStatus)
HINT_SOURCES: tuple[str, ...] = get_args(HintSource)
_TEXT_FIELDS = ("model", "prompt_version", "video_id", "text")


def from_query(query: Mapping[str, str]) -> GalleryFilter:
    """Raises HTTPBadRequest naming the parameter when a value is not one the records can hold."""
    status = query.get("status") or None
    hint_source = query.get("hint_source") or None
    if status is not None and status not in STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(STATUSES)}")
    if hint_source is not None and hint_source not in HINT_SOURCES:
        raise web.HTTPBadRequest(text=f"hint_source must be one of {', '.join(HINT_SOURCES)}")
    texts = {name: (query.get(name) or "").strip() or None for name in _TEXT_FIELDS}
    return GalleryFilter(status=status, hint_source=hint_source,  # type: ignore[arg-type]
                         several_versions=query.get("versions") == "several", **texts)


def to_query(where: GalleryFilter) -> dict[str, str]:
    """The non-empty filters, as query parameters (the inverse of from_query)."""
    out = {name: value for name in ("status", "hint_source", *_TEXT_FIELDS) if (value := getattr(where, name))}
    return {**out, "versions": "several"} if where.several_versions else out


def cursor(query: Mapping[str, str]) -> int | None:
    after = query.get("after")
    if after is None:
        return None
    if not after.isdigit():
        raise web.HTTPBadRequest(text="after must be a row number from a 'next page' link")
    return int(after)
