"""The local model's HTTP server: Chat Completions and the model list, on a thread of its own.

`LocalModel().start()` serves on a free loopback port from a background thread with its own event loop and
returns the base URL for the `openai` SDK (OPENAI_BASE_URL). Every answer is a placeholder (replies.py):
well-formed, with the usage a real model would bill for the image sent, describing nothing. Records made
through it carry the model name PLACEHOLDER_MODEL and cost nothing (shared/vision_models.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Self

from aiohttp import web

from cli.localmodel.replies import completion, decode_image, error_body, image_parts
from shared.vision_models import PLACEHOLDER_MODEL


class LocalModel:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> str:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="local-model", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local model server did not start")
        return self.base_url

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.chat_completions), web.get("/v1/models", self.models)]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.add_routes(self.routes())
        return app

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(error_body(400, "body is not JSON"), status=400)
        problem = bad_image(body)
        if problem:
            return web.json_response(error_body(400, problem), status=400)
        return web.json_response(completion(body, "ok", None))

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": PLACEHOLDER_MODEL, "object": "model"}]})

    # ---- serving ----------------------------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._startup())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _startup(self) -> None:
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping (a test's "hang" fault) would otherwise die pending when the loop stops.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)


def bad_image(body: dict[str, Any]) -> str | None:
    """Why an image of the request cannot be read (the caller's fault, answered 400), or None."""
    try:
        for part in image_parts(body):
            decode_image(part)
    except Exception as exc:  # noqa: BLE001 - any undecodable image is the client's fault
        return f"Invalid image: {exc}"
    return None
