"""The `mira` command as a user runs it: a subprocess with a MIRA_HOME of its own, the model behind the
local OpenAI-compatible server, and a way to find any process that outlived the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import as_env
from tests.conftest import FAST_GROUPS
from tests.fake_openai.fixtures import fake_openai_of_its_own  # noqa: F401 - the fake_openai fixture
from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_video


@pytest.fixture
def mira_env(tmp_path: Path, fake_openai: FakeOpenAI) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(as_env(FAST_GROUPS))
    env.update(MIRA_HOME=str(tmp_path / "home"), OPENAI_BASE_URL=fake_openai.base_url,
               OPENAI_API_KEY="sk-test-secret-123", MIRA_COMMIT_INTERVAL_S="0.2", MIRA_SHUTDOWN_GRACE_S="3",
               MIRA_API_PORT="0", TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    yield env
    kill_leftovers(env["MIRA_HOME"])  # a failed test must not leave its pipeline to the next


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clips" / "street.mp4", codec="h264", seconds=2, fps=12, width=160, height=96)


def mira(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_mira(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def processes_of(home: str) -> dict[int, str]:
    """Every live process whose command line or environment names this MIRA_HOME (pid -> command line)."""
    found = {}
    marker = home.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if state != "Z" and (marker in cmdline or marker in environ):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def wait_until_none_left(home: str, timeout_s: float = 10.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout_s
    left = processes_of(home)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_of(home)
    return left


def kill_leftovers(home: str) -> None:
    for pid in processes_of(home):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"exited with {proc.returncode} before {text!r}:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"never saw {text!r}:\n{path.read_text()}"
        time.sleep(0.1)
