"""/healthz (process alive and loop responsive), /readyz (consuming, every dependency answering; else why
not), /metrics (Prometheus text)."""

from __future__ import annotations

import logging
import re

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger(__name__)
# A supervisor that starts services with MIRA_HEALTH_PORT=0 (`mira up`) learns the port each one bound from
# this line of its log: a port chosen for it beforehand could be taken by another process before it binds.
LISTENING = "health and metrics on http://%s:%d"
LISTENING_PORT = re.compile(r"health and metrics on http://\S+:(\d+)")


class HealthServer:
    def __init__(self, app: web.Application, registry: CollectorRegistry) -> None:
        self.app = app
        self.registry = registry
        self.ready = False
        self.reason: str | None = "starting"  # why not ready (a dependency's outage, say)
        self.alive = True
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info(LISTENING, host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"alive": self.alive}, status=200 if self.alive else 503)

    async def _readyz(self, _: web.Request) -> web.Response:
        body: dict[str, object] = {"ready": self.ready}
        if not self.ready and self.reason:
            body["reason"] = self.reason
        return web.json_response(body, status=200 if self.ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
