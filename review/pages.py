"""The gallery, one clip's versions with their word diffs, and the grid images, read from the stores."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError

from review import filters
from review.diff import word_diff
from review.web import blocking, render, state
from shared.qa.rules import RULES
from shared.stats import CAPTION_TYPES
from shared.store import browse, quality

_SHA256 = re.compile(r"[0-9a-f]{64}")
REVIEWER_COOKIE = "mira_reviewer"


async def gallery(request: web.Request) -> web.Response:
    review = state(request)
    where = filters.from_query(request.query)
    page = await blocking(browse.gallery_page, review.store, where, filters.cursor(request.query),
                          review.review.review_page_size)
    query = filters.to_query(where)
    next_url = None if page.next_after is None else "/?" + urlencode({**query, "after": str(page.next_after)})
    return render(request, "gallery.html", page=page, where=where, query=query, next_url=next_url,
                  first_page="after" not in request.query, statuses=filters.STATUSES,
                  hint_sources=filters.HINT_SOURCES, qualities=filters.QUALITIES, rules=list(RULES),
                  verdicts=filters.VERDICTS, caption_types=CAPTION_TYPES)


async def clip(request: web.Request) -> web.Response:
    clip_id = request.match_info["clip_id"]
    versions = await blocking(browse.versions, state(request).store, clip_id)
    if not versions:
        raise web.HTTPNotFound(text=f"no records of clip {clip_id}")
    numbers = [v.version for v in versions]
    a = _version(request, "a", numbers[-2] if len(numbers) > 1 else numbers[0], numbers)
    b = _version(request, "b", numbers[-1], numbers)
    old, new = versions[numbers.index(a)], versions[numbers.index(b)]
    diffs = {t: word_diff(getattr(old, t), getattr(new, t)) for t in CAPTION_TYPES}
    return render(request, "clip.html", clip_id=clip_id, versions=versions, a=a, b=b, diffs=diffs,
                  caption_types=CAPTION_TYPES, latest=versions[-1],
                  reviewer=request.cookies.get(REVIEWER_COOKIE, ""))


async def verdict(request: web.Request) -> web.Response:
    """A reviewer accepts or rejects one version (or clears the verdict); who and when are kept with it,
    and the name is remembered for the next one."""
    clip_id = request.match_info["clip_id"]
    review = state(request)
    form = await request.post()
    if not review.guard.csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="the form's CSRF token is missing or stale: reload the page and try again")
    given, version, by = (str(form.get(k, "")).strip() for k in ("verdict", "version", "by"))
    if given not in ("accepted", "rejected", ""):
        raise web.HTTPBadRequest(text="verdict must be accepted, rejected or empty (clear)")
    if not version.isdigit():
        raise web.HTTPBadRequest(text="version must be a version number")
    if not by or len(by) > 80:
        raise web.HTTPBadRequest(text="say who you are (reviewer, at most 80 characters)")
    if not await blocking(quality.set_verdict, review.store.engine, clip_id, int(version), given or None, by):
        raise web.HTTPNotFound(text=f"clip {clip_id} has no version {version}")
    response = web.HTTPSeeOther(f"/clips/{quote(clip_id, safe='')}")
    response.set_cookie(REVIEWER_COOKIE, by, httponly=True, samesite="Strict", path="/")
    raise response


def _version(request: web.Request, name: str, default: int, numbers: list[int]) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) not in numbers:
        raise web.HTTPBadRequest(text=f"{name} must be one of this clip's versions: {numbers}")
    return int(raw)


async def grid(request: web.Request) -> web.Response:
    """The grid whose content hash is `sha`, read through the blob store at the URI a record gives for it.
    Nothing from the request reaches a path: the hash only selects a record."""
    sha = request.match_info["sha"]
    if not _SHA256.fullmatch(sha):
        raise web.HTTPNotFound(text="grids are named by their sha256")
    review = state(request)
    uri = await blocking(browse.grid_uri, review.store, sha)
    if uri is None:
        raise web.HTTPNotFound(text=f"no record has grid {sha}")
    try:
        data = await review.blobs.get(uri)
    except (OSError, ValueError, BotoCoreError, ClientError) as exc:  # S3: NoSuchKey, AccessDenied, ...
        raise web.HTTPNotFound(text=f"grid {sha} could not be read from the blob store: {type(exc).__name__}") from None
    headers = {"Cache-Control": "private, max-age=31536000, immutable"}  # content-addressed
    return web.Response(body=data, content_type="image/jpeg", headers=headers)
