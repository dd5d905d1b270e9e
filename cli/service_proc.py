"""One supervised service process of a local pipeline: started in a process group of its own, its output
copied line by line to its log file (or this terminal) while the last lines are kept for error reports,
and any progress note it logs ("caption: retrying, connection refused to ..., attempt 3") picked up.

Services are forked from one fork server (multiprocessing's "forkserver") that imports their code once,
rather than started as fresh interpreters that each import it again: on two cores, five interpreters each
loading the OpenAI SDK, PyAV, SQLAlchemy and aiokafka spent about 6 s of CPU before the first message moved.
A forked service runs exactly what `mira run SERVICE` runs, with the environment the pipeline gives it.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from collections import deque
from multiprocessing import forkserver, resource_tracker
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO

from services import STAGES
from shared import lifeline
from shared.runtime.health import LISTENING_PORT

# What a service logs when it is retrying work that depends on something outside it (see
# services/caption/errors.py: log_retry, and shared/runtime/lifecycle.py for start-up steps); shown on the
# progress line while nothing else moves.
NOTE = re.compile(r"\b\w+: retrying, .*?attempt \d+|\b\w+: cannot start yet \(attempt \d+: .*(?=\); retrying)")
KEPT_LINES = 50
FORKS = multiprocessing.get_context("forkserver")
# Not cli.main: a child started from `python -m cli.main` runs that module afresh as its __main__, which
# Python warns about when it is imported already.
PRELOAD = ["cli.run", *sorted({spec.split(":")[0] for spec in STAGES.values()})]


def start_fork_server() -> None:
    """Start the fork server now, so it imports the services' code while the broker starts (the first
    service started waits for it). Call it from the main thread."""
    FORKS.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def stop_fork_server() -> None:
    """End the fork server once the services have stopped: left to end on its own when this command exits,
    it would spend a few tenths of a second unloading modules while holding this command's output open. Its
    socket's folder (pymp-*) goes too: the exit handler that would remove it is skipped (cli.main)."""
    server = forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)  # private: absent in another Python, then a no-op
    address = getattr(server, "_forkserver_address", None)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if isinstance(address, str) and os.path.basename(os.path.dirname(address)).startswith("pymp-"):
        shutil.rmtree(os.path.dirname(address), ignore_errors=True)


def _serve(name: str, env: dict[str, str], out: socket.socket) -> None:
    """In the forked child: become `mira run NAME` in a session of its own, writing to `out`."""
    os.setsid()  # a process group of its own, which the supervisor signals as a whole
    # Held by a service, the fork server's "alive" pipe would keep the fork server (which ends when the
    # pipeline's command does) waiting for the services, while the services wait for it to end.
    inherited = ((forkserver._forkserver, "_forkserver_alive_fd"), (resource_tracker._resource_tracker, "_fd"))
    for holder, attribute in inherited:
        fd = getattr(holder, attribute, None)  # private, as above
        if fd is not None:
            os.close(fd)
    for std in (1, 2):
        os.dup2(out.fileno(), std)
    out.close()
    os.environ.clear()
    os.environ.update(env, MIRA_OWNER_PID=str(os.getppid()))  # the fork server, which ends with the command
    lifeline.name_process(f"mira-{name}")
    from cli.main import main

    sys.exit(main(["run", name]))


class ServiceProc:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path | None) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.process: BaseProcess | None = None
        self.started_at = 0.0
        self.failures = 0  # fast failures in a row
        self.waiting = False  # exited; to be started again at `start_at`
        self.start_at = 0.0
        self.lines: deque[str] = deque(maxlen=KEPT_LINES)
        self.note: tuple[float, str] | None = None
        self.stalled_since: float | None = None  # first "cannot start yet" of the current start-up
        self.stalled_last = 0.0
        self.health_port: int | None = None  # as the service reports it, once it has bound one
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return (self.process.pid or 0) if self.process else 0

    def spawn(self) -> None:
        """Fork the service (waits for the fork server's imports the first time)."""
        self.waiting = False
        self.stalled_since = None
        self.health_port = None
        ours, theirs = socket.socketpair()
        self.process = FORKS.Process(target=_serve, args=(self.name, self.env, theirs), name=self.name)
        self.process.start()
        theirs.close()
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._copy, args=(ours.makefile("rb"), ours),
                                        name=f"{self.name}-log", daemon=True)
        self._reader.start()

    def _copy(self, stream: IO[bytes], sock: socket.socket) -> None:
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{self.name}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed below
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                found = NOTE.search(line)
                if found:
                    self.note = (time.time(), found.group(0) + (")" if "cannot start yet" in line else ""))
                if (bound := LISTENING_PORT.search(line)) is not None:
                    self.health_port = int(bound.group(1))
                if "cannot start yet" in line:
                    self.stalled_last = time.monotonic()
                    self.stalled_since = self.stalled_since or self.stalled_last
                (out or sys.stderr).write(line + "\n")
                (out or sys.stderr).flush()
        finally:
            stream.close()
            sock.close()
            if out is not None:
                out.close()

    def stalled_for(self) -> float:
        """Seconds this service has been failing to start (0 when it is not, or stopped saying so)."""
        now = time.monotonic()
        if self.stalled_since is None or now - self.stalled_last > 30:
            return 0.0
        return now - self.stalled_since

    def poll(self) -> int | None:
        return self.process.exitcode if self.process else None

    def due(self) -> bool:
        return not self.waiting or time.monotonic() >= self.start_at

    def fast_failures(self, window_s: float) -> int:
        """Count this exit: fast failures in a row so far (a service that ran a while starts afresh)."""
        self.failures = self.failures + 1 if time.monotonic() - self.started_at < window_s else 0
        return self.failures

    def restart_after(self, pause_s: float) -> None:
        self.waiting = True
        self.start_at = time.monotonic() + pause_s

    def signal_group(self, sig: int) -> None:
        """Signal the service and anything it started (its process group)."""
        if not self.pid:
            return
        for kill in (os.killpg, os.kill):  # os.kill: just forked, not yet the leader of its group
            try:
                kill(self.pid, sig)
                return
            except (ProcessLookupError, PermissionError):
                continue  # already gone

    def close(self, timeout_s: float = 2.0) -> None:
        if self._reader is not None:
            self._reader.join(timeout_s)
        if self.process is not None and self.process.exitcode is not None:
            self.process.close()

    def tail(self, lines: int = 5) -> str:
        kept = list(self.lines)[-lines:]
        return "\n".join(kept) if kept else "(it wrote nothing)"
