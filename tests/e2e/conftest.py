"""Running the `mira` command the way a user does: a subprocess with its own MIRA_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.settings import as_env
from tests.conftest import FAST_GROUPS
from tests.fake_openai.fixtures import fake_openai_of_its_own  # noqa: F401 - the fake_openai fixture
from tests.fake_openai.server import FakeOpenAI


@pytest.fixture
def mira_env(tmp_path: Path, fake_openai: FakeOpenAI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(as_env(FAST_GROUPS))
    env.update(MIRA_HOME=str(tmp_path / "home"), OPENAI_BASE_URL=fake_openai.base_url,
               OPENAI_API_KEY="sk-test-secret-123", MIRA_COMMIT_INTERVAL_S="0.2")
    return env


def mira(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


class Up:
    """`mira up` in the background; `services` reads pids and ports from MIRA_HOME/pipeline.json."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.home = Path(env["MIRA_HOME"])
        with open(self.home.parent / "up.log", "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not (self.home / "pipeline.json").exists():
            assert time.monotonic() < deadline and self.proc.poll() is None, (self.home.parent / "up.log").read_text()
            time.sleep(0.1)

    def services(self) -> dict[str, dict[str, int]]:
        return json.loads((self.home / "pipeline.json").read_text())["services"]  # type: ignore[no-any-return]

    def health_port(self, name: str, timeout_s: float = 30) -> int:
        """The port the service's (current) process bound, once it has reported it."""
        deadline = time.monotonic() + timeout_s
        while not (port := self.services()[name]["health_port"]):
            assert time.monotonic() < deadline, f"{name} never reported its health port: {self.services()}"
            time.sleep(0.1)
        return port

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)
