"""The Captioner against the fake server run as its own process (as the end-to-end test runs it), with
faults changed at run time over its admin endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from tests.caption.conftest import GRID_H, GRID_W

ROOT = Path(__file__).parents[2]


def _admin(base_url: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    url = base_url.removesuffix("/v1") + path
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def server() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", "0", "--latency", "0.05"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:")
    yield line.removeprefix("listening on ").strip()
    proc.terminate()
    assert proc.wait(10) == 0


async def test_faults_change_at_run_time_and_requests_are_listed(server: str, grid: bytes) -> None:
    cap = Captioner(CaptionSettings(openai_base_url=server, openai_api_key="sk-e2e"))
    try:
        first = await cap.caption(grid, GRID_W, GRID_H, "a lighthouse at dusk")
        _admin(server, "/admin/faults", {"mode": "refusal"})
        second = await cap.caption(grid, GRID_W, GRID_H, "a lighthouse at dusk")
    finally:
        await cap.aclose()
    assert (first.status, second.status) == ("success", "refused")
    listed = _admin(server, "/admin/requests")
    assert [r["fault"] for r in listed] == ["ok", "refusal"]
    assert listed[0]["images"] == [{"format": "JPEG", "width": GRID_W, "height": GRID_H, "detail": "high"}]
    assert 'this video depicts "a lighthouse at dusk"' in listed[0]["text"]
    with pytest.raises(urllib.error.HTTPError):
        _admin(server, "/admin/faults", {"mode": "no-such-fault"})
