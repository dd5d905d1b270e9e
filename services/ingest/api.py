"""The ingest API on a listener of its own, apart from health and metrics: POST /v1/clips, GET
/v1/clips/{clip_id} and /v1/jobs/{job_id}, and its OpenAPI 3.1 document at /v1/openapi.json.

Whoever can call this decides what the pipeline reads and pays to caption, so every request passes, in
this order: a bearer token (compared in constant time; 401), a per-token rate (429 with Retry-After), a
body limit (413), JSON (400, with no traceback in the log), the clip model (422), a cap on clips per request
(413); then the stage's own checks (ids, hint length, source policy: 422; a job id taken by another
submission: 409). A request is taken whole or not at all: every clip is checked before any is published.
The GETs pass the same token and rate checks, and the id they name the same id rule (422). Any token may
ask about any clip: tokens tell callers apart for the rate limit, they are not tenants. Every answer,
errors included, is JSON as the document says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.ingest import openapi
from services.ingest.apimodels import Accepted, ClipRequest, ClipState, JobState
from services.ingest.identity import Conflict, check_id
from services.ingest.settings import IngestSettings
from shared.runtime.errors import BadInput, Fatal

log = logging.getLogger(__name__)

__all__ = ["ClipRequest", "IngestApi", "Lookups"]

Accept = Callable[[list[ClipRequest]], Awaitable[Accepted]]
_requests = TypeAdapter(list[ClipRequest])


@dataclass(frozen=True)
class Lookups:
    """How the API finds what it answers GETs with (services/ingest/lookup.py, off the event loop)."""

    clip: Callable[[str], Awaitable[ClipState | None]]
    job: Callable[[str], Awaitable[JobState | None]]
_STATUS_OF: tuple[tuple[type[BadInput], int], ...] = ((Conflict, 409), (BadInput, 422))


@dataclass
class TokenBuckets:
    """Per-caller token buckets: `rate_per_s` on average, `burst` at once."""

    rate_per_s: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)  # caller -> (tokens, when)

    def take(self, caller: str) -> float:
        """0 when the caller may go on now, else the seconds until it may."""
        now = self.clock()
        tokens, then = self._state.get(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
        if tokens < 1:
            self._state[caller] = (tokens, now)
            return (1 - tokens) / self.rate_per_s
        self._state[caller] = (tokens - 1, now)
        return 0.0


class IngestApi:
    def __init__(self, settings: IngestSettings, accept: Accept, lookups: Lookups) -> None:
        self.s = settings
        self.accept = accept
        self.lookups = lookups
        # Tokens are kept as digests: equal length for compare_digest, and the bucket keys name no secret.
        self.tokens = [hashlib.sha256(t.encode()).digest() for t in settings.tokens()]
        self.buckets = TokenBuckets(settings.api_rate_per_s, settings.api_rate_burst)
        self.app = web.Application(client_max_size=settings.api_max_body_bytes, middlewares=[_json_errors])
        self.app.router.add_post("/v1/clips", self._post_clips)
        self.app.router.add_get("/v1/clips/{clip_id}", self._get_clip)
        self.app.router.add_get("/v1/jobs/{job_id}", self._get_job)
        self.app.router.add_get("/v1/openapi.json", self._spec)
        self.spec = openapi.text()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.s.api_host, self.s.api_port)
        try:
            await site.start()
        except OSError as exc:  # the port is taken (another pipeline on this machine) or not ours to bind
            await self._runner.cleanup()
            raise Fatal(f"the ingest API cannot listen on {self.s.api_host}:{self.s.api_port} ({exc.strerror}); "
                        "set MIRA_API_HOST or MIRA_API_PORT") from None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("ingest API on http://%s:%d/v1/clips (%s)", self.s.api_host, self.port,
                 f"{len(self.tokens)} bearer tokens" if self.tokens else "no tokens: loopback only")
        return self.port

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def _refused(self, request: web.Request) -> web.Response | None:
        """401 or 429 for a request that may not go on, else None."""
        caller = self._caller(request)
        if caller is None:
            return _error(401, "a valid bearer token is required (Authorization: Bearer ...)",
                          headers={"WWW-Authenticate": "Bearer"})
        wait_s = self.buckets.take(caller)
        if wait_s:
            return _error(429, "too many requests for this token (MIRA_API_RATE_PER_S)",
                          headers={"Retry-After": str(max(1, round(wait_s)))})
        return None

    async def _spec(self, request: web.Request) -> web.Response:
        return web.Response(text=self.spec, content_type="application/json")

    async def _get_clip(self, request: web.Request) -> web.Response:
        return await self._get(request, "clip_id", self.lookups.clip)

    async def _get_job(self, request: web.Request) -> web.Response:
        return await self._get(request, "job_id", self.lookups.job)

    async def _get(self, request: web.Request, name: str,
                   find: Callable[[str], Awaitable[BaseModel | None]]) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        given = request.match_info[name]
        try:
            check_id(name, given)
        except BadInput as exc:
            return _error(422, exc.reason)
        found = await find(given)
        if found is None:
            return _error(404, f"no {name.removesuffix('_id')} {given} was submitted here")
        return web.json_response(found.model_dump(mode="json"))

    async def _post_clips(self, request: web.Request) -> web.Response:
        """One clip object or a list: {"source", "start_s"?, "end_s"?, "hint"?, "clip_id"?, "video_id"?}."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        if (request.content_length or 0) > self.s.api_max_body_bytes:
            return self._too_big()
        try:
            body = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return self._too_big()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            return _error(400, f"the body is not JSON: {exc}")
        items = body if isinstance(body, list) else [body]
        if len(items) > self.s.api_max_clips:
            return _error(413, f"{len(items)} clips in one request; at most {self.s.api_max_clips} "
                               "(MIRA_API_MAX_CLIPS)")
        try:
            clips = _requests.validate_python(items)
        except ValidationError as exc:
            return web.json_response({"error": exc.errors(include_url=False, include_input=False)}, status=422)
        try:
            return web.json_response((await self.accept(clips)).model_dump(mode="json"), status=202)
        except BadInput as exc:
            status = next(code for kind, code in _STATUS_OF if isinstance(exc, kind))
            return _error(status, exc.reason)

    def _caller(self, request: web.Request) -> str | None:
        """The caller's bucket key, or None when the request is not authorised."""
        if not self.tokens:
            return "anonymous"  # loopback only (IngestSettings refuses otherwise)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        digest = hashlib.sha256(given.strip().encode()).digest()
        matches = [hmac.compare_digest(digest, token) for token in self.tokens]  # no early exit: same time
        return digest.hex()[:16] if scheme.lower() == "bearer" and any(matches) else None

    def _too_big(self) -> web.Response:
        return _error(413, f"the body is over {self.s.api_max_body_bytes} bytes (MIRA_API_MAX_BODY_BYTES)")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def _json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    """aiohttp's own refusals (no such path, a method a path does not take) as JSON like every other answer."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason, headers={k: v for k, v in exc.headers.items() if k == "Allow"})
