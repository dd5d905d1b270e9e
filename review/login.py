"""The login form shown beyond loopback: one of MIRA_API_TOKENS in, a session cookie out."""

from __future__ import annotations

from aiohttp import web

from review.auth import SESSION_COOKIE
from review.web import render, state


def _next(target: str | None) -> str:
    """Only a path on this site: never `//elsewhere` or `https://elsewhere` (an open redirect)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_next(request.query.get("next")), error=None)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    target = _next(str(form.get("next", "")))
    session = state(request).guard.session_for(str(form.get("token", "")))
    if session is None:
        return render(request, "login.html", status=401, next=target, error="That is not one of MIRA_API_TOKENS.")
    response = web.HTTPSeeOther(target)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict", path="/")
    raise response
