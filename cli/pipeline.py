"""A local pipeline: the embedded broker (unless MIRA_KAFKA_BOOTSTRAP names one) and every service as
its own OS process, exactly as they run in containers (`mira run SERVICE`).

Start-up is quick: the services' code is imported once, by a fork server started first (cli.service_proc),
while the embedded broker starts (a few dozen milliseconds) and the topics are created here, once, before any
service starts (a service subscribing to a missing topic could have it auto-created with the wrong
partitions); then every service is forked at once and skips creating topics.

Supervision: a service that crashes after running a while is restarted at once; one that keeps failing
within seconds of starting is restarted with growing pauses and given up after a few tries; one that exits
with status 2 (a fatal problem, such as a rejected API key) is not restarted. A service given up on is in
`fatal` with its last log lines, which callers show and report. Each service runs in a process group of its
own and ends with this process however it ends (shared.lifeline).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

from cli.connect import clean_stale
from cli.service_proc import ServiceProc, start_fork_server, stop_fork_server
from shared import broker, kafka
from shared.settings import Settings, as_env

log = logging.getLogger(__name__)

FATAL_EXIT = 2
FAST_FAILURE_S = 10.0  # an exit this soon after starting counts towards giving up
GIVE_UP_AFTER = 3  # fast failures in a row
BACKOFF_S = (0.5, 2.0)  # pause before the 2nd and 3rd start
# The embedded broker answers a group's first JoinGroup after half the session timeout (1 s at least):
# 5 s of every start at the default. Each group here has one member, so a short session costs nothing.
# It also answers a fetch only when the fetch's wait is over, never early when a message arrives: every hop
# between stages waited up to 500 ms at the default; a short wait costs a few empty fetches a second.
# Each group of settings applies unless the user set one of it.
EMBEDDED_KAFKA: tuple[dict[str, int | bool], ...] = (
    {"kafka_session_timeout_ms": 2000, "kafka_heartbeat_interval_ms": 500}, {"kafka_fetch_max_wait_ms": 50},
    broker.EmbeddedBroker.CLIENT_SETTINGS)
STALLED_GIVE_UP_S = 60.0  # a command's own pipeline: a service still failing to start after this is given up


class LocalPipeline:
    def __init__(self, settings: Settings, services: list[str], log_dir: Path | None = None) -> None:
        self.settings = settings
        self.services = services
        self.log_dir = log_dir  # None: services log to this terminal (`mira up`); else a command's own pipeline
        self.broker: broker.EmbeddedBroker | None = None
        self.procs: dict[str, ServiceProc] = {}
        self.bootstrap = settings.kafka_bootstrap or ""
        self.fatal: dict[str, str] = {}
        self._written: dict[str, dict[str, int | bool | None]] = {}  # as pipeline.json last said

    async def start(self) -> Settings:
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True)
        clean_stale(home)
        start_fork_server()  # it imports the services' code while the broker starts and topics are made
        if not self.bootstrap:
            self.broker = broker.EmbeddedBroker(home)
            self.broker.launch()
            self.bootstrap = self.broker.address
        # This command's own readers take the embedded broker's settings too.
        settings = self.settings.model_copy(update={"kafka_bootstrap": self.bootstrap, **self._embedded_kafka()})
        if self.broker:
            while not self.broker.ready():
                await asyncio.sleep(0.01)
        if self.settings.create_topics:
            await kafka.ensure_topics(settings)
        for name in self.services:
            self.procs[name] = ServiceProc(name, self._env(name), self.log_dir)
        await asyncio.to_thread(self._spawn_all)  # the first start waits for the fork server's imports
        self._write_pipeline()
        return settings

    def _spawn_all(self) -> None:
        for proc in self.procs.values():
            proc.spawn()

    def _env(self, name: str) -> dict[str, str]:
        env = {**os.environ, "MIRA_KAFKA_BOOTSTRAP": self.bootstrap, "MIRA_HOME": str(self.settings.home),
               "MIRA_HEALTH_PORT": "0", "MIRA_HEALTH_HOST": "127.0.0.1",  # each reports the port it bound
               "MIRA_CREATE_TOPICS": "false", "MIRA_OWNER_PID": str(os.getpid())}
        if self.log_dir is not None:  # a command's own pipeline: its HTTP ingest API must not hold MIRA_API_PORT
            env["MIRA_API_PORT"] = "0"
        env.update(as_env(self._embedded_kafka()))
        return env

    def _embedded_kafka(self) -> dict[str, int | bool]:
        """The EMBEDDED_KAFKA settings that apply: on the embedded broker, each group the user set none of."""
        chosen: dict[str, int | bool] = {}
        for defaults in EMBEDDED_KAFKA if self.broker else ():
            if not set(as_env(defaults)) & set(os.environ):
                chosen.update(defaults)
        return chosen

    def _services(self) -> dict[str, dict[str, int | bool | None]]:
        """Each service's pid and health port (None until it has bound one), as pipeline.json shows them."""
        return {n: {"pid": p.pid, "health_port": p.health_port, "given_up": n in self.fatal}
                for n, p in self.procs.items()}

    def _write_pipeline(self) -> None:
        self._written = self._services()
        broker.write_pipeline(self.settings.home, self.bootstrap, self._written, self._embedded_kafka())

    def supervise(self) -> None:
        """Restart crashed services, pausing or giving up on those that fail fast. Call periodically."""
        for name, proc in self.procs.items():
            if name in self.fatal or not proc.due():
                continue
            code = proc.poll()
            if code is None:
                if self.log_dir is not None and proc.stalled_for() > STALLED_GIVE_UP_S:
                    proc.signal_group(signal.SIGTERM)
                    self._give_up(name, f"cannot start: still failing after {STALLED_GIVE_UP_S:g} s")
                continue
            if proc.waiting:
                proc.spawn()
            elif code == FATAL_EXIT:
                self._give_up(name, "cannot work (it stopped on a fatal error)")
            elif proc.fast_failures(FAST_FAILURE_S) >= GIVE_UP_AFTER:
                self._give_up(name, f"keeps failing: exited with {code} within {FAST_FAILURE_S:g} s of starting, "
                                    f"{GIVE_UP_AFTER} times in a row; not restarting it")
            else:
                pause = BACKOFF_S[min(proc.failures, len(BACKOFF_S)) - 1] if proc.failures else 0.0
                log.warning("%s exited with %s; restarting%s", name, code, f" in {pause:g} s" if pause else "")
                proc.restart_after(pause)
        if self._services() != self._written:
            self._write_pipeline()  # a service restarted, or reported the port it bound

    def _give_up(self, name: str, why: str) -> None:
        self.fatal[name] = f"{why}; its last log lines:\n{self.procs[name].tail()}"
        log.error("the %s service %s", name, self.fatal[name])
        self._write_pipeline()  # commands using this pipeline stop waiting for it

    def note(self) -> str | None:
        """The newest status a service reported about its own trouble (e.g. the caption model retrying)."""
        notes = [p.note for p in self.procs.values() if p.note]
        return max(notes)[1] if notes else None

    def clear_notes(self) -> None:
        for proc in self.procs.values():
            proc.note = None

    async def stop(self, timeout_s: float = 30.0) -> None:
        for proc in self.procs.values():
            proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            proc.signal_group(signal.SIGKILL)  # anything the service itself started
            proc.close()
        stop_fork_server()
        broker.clear_pipeline(self.settings.home)
        if self.broker:
            self.broker.stop()

