"""The pipeline's processes: replicas of every stage, each `mira run STAGE` in its own OS process, as
containers run them, with a restart policy like a Deployment's (a replica that dies comes back).

Every signal the harness sends is logged with the pid and the time, so a model answer that reached a process
just before it was SIGKILLed can be told from one that reached a process which lived on.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.runtime.health import LISTENING_PORT

ROOT = Path(__file__).resolve().parents[2]
RESTART_DELAY_S = 1.0  # a killed pod is back after about this long (kubelet's first back-off is 10 s)
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork: the child only calls it


def _die_with_parent() -> None:
    """Children get SIGKILL when the harness dies, however it is stopped: no replica outlives a run."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Replica:
    stage: str
    name: str
    extra: bool  # started by a scale-up; a scale-down stops it for good
    proc: subprocess.Popen[bytes] | None = None
    down_since: float | None = None  # when its process ended (it restarts RESTART_DELAY_S later)
    retired: bool = False
    started: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def age(self) -> float:
        """Seconds its current process has been running."""
        return time.time() - self.started


@dataclass
class Exit:
    name: str
    pid: int
    code: int
    how: str  # "killed" (SIGKILL), "stopped" (SIGTERM), "hung" (SIGTERM, then SIGKILL), "crashed" (on its own)
    signalled_at: float | None
    at: float


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    replicas: list[Replica] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    kills: dict[int, float] = field(default_factory=dict)  # pid -> when it was SIGKILLed
    terms: dict[int, float] = field(default_factory=dict)  # pid -> when it was sent SIGTERM
    starts: int = 0

    def add(self, stage: str, extra: bool = False) -> Replica:
        n = sum(r.stage == stage for r in self.replicas)
        replica = Replica(stage, f"{stage}-{n}", extra)
        self.replicas.append(replica)
        self._spawn(replica)
        return replica

    def _spawn(self, replica: Replica) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{replica.name}.log", "ab") as log:  # the child keeps its own copy
            replica.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", replica.stage], env=self.env,
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent)  # noqa: PLW1509 - one syscall, no locks
        replica.down_since = None
        replica.started = time.time()
        self.starts += 1

    def joined(self, replica: Replica) -> bool:
        """Whether its current process has been given partitions (the runtime logs each assignment)."""
        try:
            text = (self.logs / f"{replica.name}.log").read_text(errors="replace")
        except OSError:
            return False
        marker = f"[{replica.pid}] {replica.stage} assigned ["
        return any(line.partition(marker)[2][:1].isdigit() for line in text.splitlines() if marker in line)

    def health_port(self, replica: Replica) -> int | None:
        """The port its current process bound for health and metrics, once it has logged it."""
        try:
            text = (self.logs / f"{replica.name}.log").read_text(errors="replace")
        except OSError:
            return None
        ports = [int(m[1]) for line in text.splitlines() if f"[{replica.pid}]" in line
                 if (m := LISTENING_PORT.search(line))]
        return ports[-1] if ports else None

    def live(self, stage: str | None = None) -> list[Replica]:
        return [r for r in self.replicas if r.proc is not None and r.proc.poll() is None and not r.retired
                and r.proc.pid not in self.terms and r.proc.pid not in self.kills
                and (stage is None or r.stage == stage)]

    def kill(self, replica: Replica) -> None:
        assert replica.proc is not None
        self.kills[replica.proc.pid] = time.time()
        replica.proc.send_signal(signal.SIGKILL)

    def terminate(self, replica: Replica, retire: bool = False) -> None:
        assert replica.proc is not None
        self.terms[replica.proc.pid] = time.time()
        replica.retired = retire
        replica.proc.send_signal(signal.SIGTERM)

    def supervise(self, grace_s: float) -> None:
        """Note exits, restart what died (after the restart delay), SIGKILL what ignores SIGTERM too long."""
        now = time.time()
        for r in self.replicas:
            if r.proc is None:
                continue
            code = r.proc.poll()
            pid = r.proc.pid
            if code is None:
                if pid in self.terms and now - self.terms[pid] > grace_s and pid not in self.kills:
                    self.kill(r)  # what the platform does after terminationGracePeriodSeconds
                continue
            if r.down_since is None:
                r.down_since = now
                how = ("hung" if pid in self.kills and pid in self.terms else "killed" if pid in self.kills
                       else "stopped" if pid in self.terms else "crashed")
                self.exits.append(Exit(r.name, pid, code, how, self.kills.get(pid) or self.terms.get(pid), now))
            if not r.retired and now - r.down_since >= RESTART_DELAY_S:
                self._spawn(r)

    def stop_all(self, grace_s: float) -> None:
        for r in self.replicas:
            r.retired = True
            if r.proc is not None and r.proc.poll() is None:
                self.terminate(r, retire=True)
        deadline = time.time() + grace_s
        while time.time() < deadline and any(r.proc is not None and r.proc.poll() is None for r in self.replicas):
            time.sleep(0.1)
        self.supervise(grace_s=0)  # SIGKILLs what is left, records every exit
        for r in self.replicas:
            if r.proc is not None:
                r.proc.wait()
        self.supervise(grace_s=0)

    def killed_between(self, pid: int | None, start: float, end: float) -> bool:
        """Whether the harness SIGKILLed `pid` between `start` and `end`."""
        at = self.kills.get(pid) if pid is not None else None
        return at is not None and start <= at <= end

    def bad_exits(self) -> list[Exit]:
        """Crashes (exits nobody asked for) and hangs (SIGTERM not honoured, SIGKILLed after the grace)."""
        return [e for e in self.exits if e.how in ("crashed", "hung")]

    def unclean_stops(self) -> list[Exit]:
        """SIGTERMs that ended with a non-zero status (the service says it overran its grace), apart from
        -SIGTERM: a process stopped before it had set up its handler, still starting, which is clean too."""
        return [e for e in self.exits if e.how == "stopped" and e.code not in (0, -signal.SIGTERM)]
