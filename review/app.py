"""The review app: routes, state, and serving it until interrupted. Every page is server-rendered HTML
(Jinja2) with one stylesheet; the only script-free interactions are links and forms."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from aiohttp import web

from review import login, pages, reports, sendback
from review.auth import Guard
from review.settings import ReviewSettings, login_required
from review.web import REVIEW, Review, templates
from shared.blobstore import open_blobstore
from shared.settings import Settings
from shared.store import RecordStore

STATIC = Path(__file__).parent / "static"


def make_app(settings: Settings, review: ReviewSettings, host: str, tokens: tuple[str, ...] = ()) -> web.Application:
    """`tokens`: MIRA_API_TOKENS. Raises ReviewConfigError when `host` is beyond loopback and there are none,
    before anything is opened."""
    guard = Guard(tokens, login_required(host, tokens))
    assert settings.database_url is not None and settings.blob_url is not None
    store = RecordStore.open(settings.database_url)
    app = web.Application(middlewares=[guard.middleware], client_max_size=8 * 1024 * 1024)
    app[REVIEW] = Review(settings, review, store, open_blobstore(settings.blob_url), guard, templates())
    app.router.add_get("/", pages.gallery)
    app.router.add_get("/clips/{clip_id}", pages.clip)
    app.router.add_post("/clips/{clip_id}/verdict", pages.verdict)
    app.router.add_get("/grids/{sha}.jpg", pages.grid)
    app.router.add_get("/failures", reports.failures)
    app.router.add_get("/stats", reports.stats_page)
    app.router.add_get("/stats/histogram.png", reports.histogram)
    app.router.add_post("/send-back", sendback.preview)
    app.router.add_post("/send-back/publish", sendback.publish)
    app.router.add_get("/login", login.login_form)
    app.router.add_post("/login", login.login)
    app.router.add_static("/static/", STATIC)
    app.on_cleanup.append(_close_store)
    return app


async def _close_store(app: web.Application) -> None:
    app[REVIEW].store.close()


async def serve(app: web.Application, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation); prints the address once it is listening."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][:2] if runner.addresses else (host, port)
        print(f"review page on http://{bound[0]}:{bound[1]}/ (Ctrl-C stops it)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()
