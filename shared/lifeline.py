"""Nothing a command starts outlives it, however the command dies (Ctrl-C, SIGTERM, SIGKILL, a crash).

- `die_with_parent(sig)`: Linux sends `sig` to this process when its parent goes (PR_SET_PDEATHSIG, kept
  across exec, so it also works as a Popen preexec_fn for a binary we cannot change).
- `exit_with_owner(pid)`: for a service started by a local pipeline: the parent-death signal, plus a
  thread that notices the owner is gone (the owner may die before prctl runs; other systems have no
  prctl), asks for a clean stop, and ends the process for good if that takes longer than a grace period.
- `python -m shared.lifeline OWNER_PID CHILD_PID`: a watchdog for a child that cannot watch for itself (the
  embedded broker, a binary): it ends the child when the owner is gone, should the parent-death signal not
  do it (other systems; or the owner thread that started the child ended, which also sends the signal).

The parent-death signal follows the thread that started the child: start children from a thread that
lives as long as they should (the main thread).
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
PR_SET_NAME = 15
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


def name_process(name: str) -> None:
    """The name `ps` and `top` show for this process (15 bytes at most), e.g. a service forked from a
    fork server, whose command line is the fork server's."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


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


def watchdog(owner_pid: int, child_pid: int) -> int:
    """Wait until the owner or the child is gone; if the owner went first, end the child."""
    die_with_parent(signal.SIGTERM)
    # A plain flag, not a threading.Event: the handler runs in this same thread, and Event.set() there would
    # wait forever for the Event's lock whenever the signal lands while Event.wait() holds it (seen once in
    # ten runs of the test suite: after `mira up` was SIGKILLed, its broker's watchdog never ended).
    stopped: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopped.append(signum))
    while not stopped and os.getppid() == owner_pid and _alive(child_pid):
        time.sleep(WATCH_INTERVAL_S)
    if os.getppid() != owner_pid or (stopped and not _alive(owner_pid)):
        _end(child_pid)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _end(pid: int, grace_s: float = 3.0) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def start_watchdog(child_pid: int) -> subprocess.Popen[bytes]:
    """Watch `child_pid` on behalf of this process (see watchdog)."""
    return subprocess.Popen([sys.executable, "-m", "shared.lifeline", str(os.getpid()), str(child_pid)],
                            stdin=subprocess.DEVNULL, start_new_session=True)


if __name__ == "__main__":
    owner, child = (int(arg) for arg in sys.argv[1:3])
    sys.exit(watchdog(owner, child))
