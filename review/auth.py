"""Sign-in and CSRF for the review page.

- Beyond loopback the page asks for one of MIRA_API_TOKENS (a login form); the cookie it then sets holds an
  HMAC of the token under a key made at start-up, never the token itself, so restarting signs everyone out.
- Every state-changing form (send back) carries a CSRF token: an HMAC of a random per-browser cookie
  (SameSite=Strict). Another site can make a browser post to 127.0.0.1:8765 but cannot read that token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

SESSION_COOKIE = "mira_review_session"
CSRF_COOKIE = "mira_review_csrf"
_CSRF_SEED = web.RequestKey("mira_csrf_seed", str)
OPEN_PATHS = ("/login", "/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    def __init__(self, tokens: tuple[str, ...], required: bool) -> None:
        self.required = required
        self._key = secrets.token_bytes(32)
        self._sessions = {self._sign("session", t) for t in tokens}

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def session_for(self, token: str) -> str | None:
        """The cookie value for a valid token, None for anything else (compared in constant time)."""
        candidate = self._sign("session", token)
        return candidate if any(hmac.compare_digest(candidate, s) for s in self._sessions) else None

    def signed_in(self, request: web.Request) -> bool:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return not self.required or any(hmac.compare_digest(cookie, s) for s in self._sessions)

    def csrf_token(self, request: web.Request) -> str:
        return self._sign("csrf", request.get(_CSRF_SEED) or request.cookies.get(CSRF_COOKIE, ""))

    def csrf_ok(self, request: web.Request, sent: str) -> bool:
        seed = request.cookies.get(CSRF_COOKIE, "")
        return bool(seed) and hmac.compare_digest(self._sign("csrf", seed), sent)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(OPEN_PATHS) and not self.signed_in(request):
            if request.method == "GET" and not request.path.startswith("/grids/"):
                raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
            raise web.HTTPUnauthorized(text="sign in at /login first")
        seed = request.cookies.get(CSRF_COOKIE)
        if not seed:
            request[_CSRF_SEED] = secrets.token_urlsafe(32)
        response = await handler(request)
        if not seed:
            response.set_cookie(CSRF_COOKIE, request[_CSRF_SEED], httponly=True, samesite="Strict", path="/")
        return response
