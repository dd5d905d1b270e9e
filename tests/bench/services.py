"""The pipeline the pipeline benchmark drives: one embedded broker, the local model server, and every
service as its own `mira run SERVICE` process (as in containers, or under `mira up`), with replicas on
demand. CPU time and memory are read from /proc for every process, so each one's cost per clip can be
told apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cli.pipeline import EMBEDDED_KAFKA
from services import STAGES
from shared import broker
from shared.runtime.health import LISTENING_PORT
from shared.settings import as_env
from tests.bench.caption import start_server

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
# Zero latency and no rate limit on the model side: whatever limits throughput is ours.
UNLIMITED = {"OPENAI_API_KEY": "sk-bench", "MIRA_CAPTION_RPM": "100000000", "MIRA_CAPTION_TPM": "100000000000"}
# Kafka settings as `mira up` gives its services on the embedded broker (short group timeouts, and a 50 ms
# fetch wait: this broker answers a fetch only once the wait is out), and quick rebalances for added replicas.
AS_MIRA_UP = {field: value for group in EMBEDDED_KAFKA for field, value in group.items()}
KAFKA = as_env(AS_MIRA_UP | {"kafka_rebalance_timeout_ms": 3000})


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def postgresql_cpu_s() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL server process running now, by pid."""
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" ", 2)[1] == "(postgres)":
                used[int(stat.parent.name)] = cpu_s(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return used


def postgresql_used_s(before: dict[int, float], after: dict[int, float]) -> float:
    """PostgreSQL's CPU between two readings, from the processes alive at the second (a backend that ended in
    between takes its share with it: the figure is a floor)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def memory_mib(pid: int, key: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Proc:
    label: str
    popen: subprocess.Popen[bytes]
    health_port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


class Pipeline:
    """Start with `start()`, add replicas with `add(name)`, always `stop()` (kills what it started)."""

    def __init__(self, home: Path, database_url: str | None = None, model_latency_s: float = 0.0,
                 env: dict[str, str] | None = None) -> None:
        self.home = home
        self.broker = broker.EmbeddedBroker(home)
        self.procs: list[Proc] = []
        self.env: dict[str, str] = {}
        self.database_url = database_url
        self.model_latency_s = model_latency_s
        self.extra_env = env or {}

    def start(self) -> None:
        bootstrap = self.broker.start()
        model, base_url = start_server(self.model_latency_s)  # no rate limit
        self.procs.append(Proc("model server", model))  # type: ignore[arg-type]
        self.procs.append(Proc("broker", self.broker._proc))  # type: ignore[arg-type]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
        env |= UNLIMITED | KAFKA
        env |= {"MIRA_HOME": str(self.home), "MIRA_KAFKA_BOOTSTRAP": bootstrap, "OPENAI_BASE_URL": base_url,
                "MIRA_HEALTH_HOST": "127.0.0.1"}
        if self.database_url:
            env["MIRA_DATABASE_URL"] = self.database_url
        self.env = env | self.extra_env
        for name in STAGES:
            self.add(name)

    def add(self, name: str, env: dict[str, str] | None = None) -> Proc:
        """One more `mira run NAME` process (with `env` over the pipeline's); returns once it consumes and has
        been given partitions."""
        replica = sum(p.label.startswith(name) for p in self.procs) + 1
        log = self.home / "logs" / f"{name}-{replica}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        start = log.stat().st_size if log.exists() else 0  # a replaced replica's log is appended to
        with open(log, "ab") as out:
            ports = {"MIRA_HEALTH_PORT": "0", "MIRA_API_PORT": "0"}  # free ports, as `mira up` gives them
            popen = subprocess.Popen([sys.executable, "-m", "cli.main", "run", name], stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env | (env or {}) | ports)
        proc = Proc(name if replica == 1 else f"{name} #{replica}", popen)
        self.procs.append(proc)
        self._wait_assigned(proc, log, start)
        bound = LISTENING_PORT.search(self._log_since(log, start))
        proc.health_port = int(bound.group(1)) if bound else None
        return proc

    def remove(self, name: str) -> None:
        """Stop every replica of service `name` (SIGTERM, as a rollout does), one after the other (members
        leaving a group at once left the embedded broker's group unable to take new members, now and then),
        and forget them."""
        for proc in [p for p in self.procs if p.label == name or p.label.startswith(f"{name} #")]:
            proc.popen.terminate()
            proc.popen.wait(timeout=60)
            self.procs.remove(proc)

    @staticmethod
    def _log_since(log: Path, start: int) -> str:
        with open(log, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def _wait_assigned(self, proc: Proc, log: Path, start: int = 0, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while "assigned [" not in self._log_since(log, start):
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{proc.label} did not start consuming; see {log}:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def ready(self) -> bool:
        for proc in self.procs:
            if proc.health_port is None:
                continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{proc.health_port}/readyz", timeout=2) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
        return True

    def cpu(self) -> dict[str, float]:
        return {p.label: cpu_s(p.pid) for p in self.procs}

    def profile(self, py_spy: str, labels: list[str], out: Path) -> list[subprocess.Popen[bytes]]:
        """Start sampling `labels`' processes with py-spy (folded stacks in out/NAME.txt); SIGINT ends them."""
        out.mkdir(parents=True, exist_ok=True)
        return [subprocess.Popen([py_spy, "record", "--pid", str(p.pid), "--format", "raw", "--rate", "250",
                                  "--nonblocking", "--gil", "-o", str(out / f"{p.label}.txt")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for p in self.procs if p.label in labels]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.broker.stop()
