"""Nothing a command starts outlives it, however the command dies (Ctrl-C, SIGTERM, SIGKILL, a crash).

- `die_with_parent(sig)`: Linux sends `sig` to this process when its parent goes (PR_SET_PDEATHSIG, kept
  across exec, so it also works as a Popen preexec_fn for a binary we cannot change).
- `exit_with_owner(pid)`: for a service started by a local pipeline: the parent-death signal, plus a
  thread that notices the owner is gone (the owner may die before prctl runs; other systems have no
  prctl), asks for a clean stop, and ends the process for good if that takes longer than a grace period.
- `python -m shared.lifeline OWNER_PID -- CMD...`: the broker watchdog. Runs CMD (the embedded broker) as
  its child and ends it when the owner is gone or when asked to stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.25


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up here, not in a forked child where dlopen may deadlock


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def killed_with_parent() -> None:
    """A Popen preexec_fn: the child is SIGKILLed when the process that started it ends."""
    die_with_parent(signal.SIGKILL)


def exit_with_owner(owner_pid: int, grace_s: float = 5.0) -> None:
    die_with_parent(signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == owner_pid:
            time.sleep(WATCH_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)  # the service's own clean shutdown
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def watchdog(owner_pid: int, cmd: list[str]) -> int:
    """Run cmd until it exits, the owner is gone, or this process is asked to stop; return its status."""
    killed_with_parent()
    if os.getppid() != owner_pid:
        return 1  # the owner died before we could tie ourselves to it
    child = subprocess.Popen(cmd, preexec_fn=killed_with_parent)  # noqa: PLW1509 - prctl only, no locks
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    while child.poll() is None and not stop.is_set() and os.getppid() == owner_pid:
        stop.wait(WATCH_INTERVAL_S)
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


if __name__ == "__main__":
    owner, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit("usage: python -m shared.lifeline OWNER_PID -- CMD...")
    sys.exit(watchdog(int(owner), command))
