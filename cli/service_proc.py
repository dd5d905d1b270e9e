"""One supervised service process of a local pipeline: started in a process group of its own, its output
copied line by line to its log file (or this terminal) while the last lines are kept for error reports,
and any progress note it logs ("caption: retrying, connection refused to ..., attempt 3") picked up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

# What a service logs when it is retrying work that depends on something outside it (see
# services/caption/errors.py: log_retry, and shared/runtime/lifecycle.py for start-up steps); shown on the
# progress line while nothing else moves.
NOTE = re.compile(r"\b\w+: retrying, .*?attempt \d+|\b\w+: cannot start yet \(attempt \d+: .*(?=\); retrying)")
KEPT_LINES = 50


class ServiceProc:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path | None) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.failures = 0  # fast failures in a row
        self.waiting = False  # exited; to be started again at `start_at`
        self.start_at = 0.0
        self.lines: deque[str] = deque(maxlen=KEPT_LINES)
        self.note: tuple[float, str] | None = None
        self.stalled_since: float | None = None  # first "cannot start yet" of the current start-up
        self.stalled_last = 0.0
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def spawn(self) -> None:
        self.waiting = False
        self.stalled_since = None
        self.popen = subprocess.Popen([sys.executable, "-m", "cli.main", "run", self.name], env=self.env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.started_at = time.monotonic()
        assert self.popen.stdout is not None
        self._reader = threading.Thread(target=self._copy, args=(self.popen.stdout,), name=f"{self.name}-log",
                                        daemon=True)
        self._reader.start()

    def _copy(self, stream: IO[bytes]) -> None:
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
                if "cannot start yet" in line:
                    self.stalled_last = time.monotonic()
                    self.stalled_since = self.stalled_since or self.stalled_last
                (out or sys.stderr).write(line + "\n")
                (out or sys.stderr).flush()
        finally:
            stream.close()
            if out is not None:
                out.close()

    def stalled_for(self) -> float:
        """Seconds this service has been failing to start (0 when it is not, or stopped saying so)."""
        now = time.monotonic()
        if self.stalled_since is None or now - self.stalled_last > 30:
            return 0.0
        return now - self.stalled_since

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen else None

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
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # already gone

    def close(self, timeout_s: float = 2.0) -> None:
        if self._reader is not None:
            self._reader.join(timeout_s)

    def tail(self, lines: int = 5) -> str:
        kept = list(self.lines)[-lines:]
        return "\n".join(kept) if kept else "(it wrote nothing)"
