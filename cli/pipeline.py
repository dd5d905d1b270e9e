"""A local pipeline: the embedded broker (unless MIRA_KAFKA_BOOTSTRAP names one) and every service as
its own OS process, exactly as they run in containers (`mira run SERVICE`).

A service that crashes is restarted; one that exits with status 2 (a fatal configuration problem, such as
a rejected API key) is not, and its last log lines are shown instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared import broker, kafka
from shared.settings import Settings

log = logging.getLogger(__name__)

FATAL_EXIT = 2


class LocalPipeline:
    def __init__(self, settings: Settings, services: list[str], log_dir: Path | None = None) -> None:
        self.settings = settings
        self.services = services
        self.log_dir = log_dir  # None: services log to this terminal
        self.broker: broker.EmbeddedBroker | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.bootstrap = settings.kafka_bootstrap or ""
        self.fatal: dict[str, str] = {}

    async def start(self) -> Settings:
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True)
        if not self.bootstrap:
            self.broker = broker.EmbeddedBroker(home)
            self.bootstrap = self.broker.start()
        settings = self.settings.model_copy(update={"kafka_bootstrap": self.bootstrap})
        await kafka.ensure_topics(settings)
        for name in self.services:
            self.ports[name] = broker.free_port()
            self._spawn(name)
        return settings

    def _spawn(self, name: str) -> None:
        env = {**os.environ, "MIRA_KAFKA_BOOTSTRAP": self.bootstrap, "MIRA_HOME": str(self.settings.home),
               "MIRA_HEALTH_PORT": str(self.ports[name]), "MIRA_HEALTH_HOST": "127.0.0.1"}
        with contextlib.ExitStack() as files:
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = files.enter_context(open(self.log_dir / f"{name}.log", "ab"))  # the child keeps its copy
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "cli.main", "run", name], env=env,
                                                stdout=out, stderr=subprocess.STDOUT if out else None)
        services = {n: {"pid": p.pid, "health_port": self.ports[n]} for n, p in self.procs.items()}
        broker.write_pipeline(self.settings.home, self.bootstrap, services)

    def supervise(self) -> None:
        """Restart crashed services; remember fatal exits. Call periodically."""
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or name in self.fatal:
                continue
            if code == FATAL_EXIT:
                self.fatal[name] = self.tail(name)
                log.error("%s stopped on a fatal error:\n%s", name, self.fatal[name])
            else:
                log.warning("%s exited with %s; restarting", name, code)
                self._spawn(name)

    def tail(self, name: str, lines: int = 5) -> str:
        if self.log_dir is None:
            return "(see the output above)"
        text = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def stop(self, timeout_s: float = 30.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
        broker.clear_pipeline(self.settings.home)
        if self.broker:
            self.broker.stop()
