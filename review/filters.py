"""The gallery's filters live in the URL (a view can be shared by its link): query string <-> GalleryFilter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from aiohttp import web

from shared.messages import CaptionStatus, HintSource, Quality, Verdict
from shared.qa.rules import RULES
from shared.store.browse import GalleryFilter

STATUSES: tuple[str, ...] = get_args(CaptionStatus)
HINT_SOURCES: tuple[str, ...] = get_args(HintSource)
QUALITIES: tuple[str, ...] = get_args(Quality)
VERDICTS: tuple[str, ...] = get_args(Verdict)
# Parameters with a fixed set of values, and the values.
_CHOICES = {"status": STATUSES, "hint_source": HINT_SOURCES, "quality": QUALITIES, "rule": tuple(RULES),
            "verdict": VERDICTS}
_TEXT_FIELDS = ("model", "prompt_version", "video_id", "text")


def from_query(query: Mapping[str, str]) -> GalleryFilter:
    """Raises HTTPBadRequest naming the parameter when a value is not one the records can hold."""
    chosen = {name: query.get(name) or None for name in _CHOICES}
    for name, value in chosen.items():
        if value is not None and value not in _CHOICES[name]:
            raise web.HTTPBadRequest(text=f"{name} must be one of {', '.join(_CHOICES[name])}")
    texts = {name: (query.get(name) or "").strip() or None for name in _TEXT_FIELDS}
    return GalleryFilter(several_versions=query.get("versions") == "several", **chosen, **texts)  # type: ignore[arg-type]


def to_query(where: GalleryFilter) -> dict[str, str]:
    """The non-empty filters, as query parameters (the inverse of from_query)."""
    out = {name: value for name in (*_CHOICES, *_TEXT_FIELDS) if (value := getattr(where, name))}
    return {**out, "versions": "several"} if where.several_versions else out


def cursor(query: Mapping[str, str]) -> int | None:
    after = query.get("after")
    if after is None:
        return None
    if not after.isdigit():
        raise web.HTTPBadRequest(text="after must be a row number from a 'next page' link")
    return int(after)
