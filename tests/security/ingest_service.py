"""The ingest service running in this process on the test broker, its API on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from services.ingest.handler import IngestStage
from shared.runtime.runner import Runner
from shared.settings import Settings
from tests.running import running

TOKEN = "tok-alpha-0123456789"
OTHER_TOKEN = "tok-beta-9876543210"


@dataclass
class Ingest:
    stage: IngestStage
    runner: Runner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.stage.api.port}/v1/clips"


@asynccontextmanager
async def running_ingest(settings: Settings, monkeypatch: pytest.MonkeyPatch, **env: str) -> AsyncIterator[Ingest]:
    """MIRA_API_* settings from `env` (names without the prefix); tokens TOKEN and OTHER_TOKEN by default."""
    monkeypatch.setenv("MIRA_API_PORT", "0")
    monkeypatch.setenv("MIRA_API_TOKENS", f"{TOKEN},{OTHER_TOKEN}")
    for name, value in env.items():
        monkeypatch.setenv(f"MIRA_{name.upper()}", value)
    stage = IngestStage()
    async with running(stage, settings) as runner:
        yield Ingest(stage, runner)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
