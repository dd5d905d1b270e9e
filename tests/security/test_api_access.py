"""The ingest API: its own listener, bearer tokens, and limits that answer with a status, never a crash."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.ingest.handler import IngestStage
from shared.runtime.runner import Runner
from shared.settings import Settings
from tests.security.ingest_service import OTHER_TOKEN, TOKEN, bearer, running_ingest

CLIP = {"source": "https://videos.example.com/a.mp4", "end_s": 4}


async def test_only_a_valid_bearer_token_gets_in_and_the_api_is_apart_from_health(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_ingest(settings, monkeypatch) as ingest, aiohttp.ClientSession() as http:
        nobody = await http.post(ingest.url, json=CLIP)
        wrong = await http.post(ingest.url, json=CLIP, headers=bearer(TOKEN + "x"))
        basic = await http.post(ingest.url, json=CLIP, headers={"Authorization": f"Basic {TOKEN}"})
        ok = await http.post(ingest.url, json=CLIP, headers=bearer(OTHER_TOKEN))
        on_health = await http.post(f"http://127.0.0.1:{ingest.runner.health.port}/v1/clips", json=CLIP,
                                    headers=bearer())
        metrics_on_api = await http.get(ingest.url.replace("/v1/clips", "/metrics"))
        assert [nobody.status, wrong.status, basic.status] == [401, 401, 401]
        assert nobody.headers["WWW-Authenticate"] == "Bearer"
        assert ok.status == 202 and len((await ok.json())["clips"]) == 1
        assert on_health.status in (404, 405) and metrics_on_api.status in (401, 404, 405)
        assert ingest.stage.api.port != ingest.runner.health.port


async def test_malformed_json_gets_400_and_no_traceback_in_the_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_ingest(settings, monkeypatch) as ingest, aiohttp.ClientSession() as http:
        broken = await http.post(ingest.url, data=b'{"source": "https://x.example/a.mp4",', headers=bearer())
        binary = await http.post(ingest.url, data=b"\xff\xfe\x00garbage", headers=bearer())
        assert broken.status == 400 and "not JSON" in (await broken.json())["error"]
        assert binary.status == 400
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_body_over_the_limit_gets_413_with_or_without_a_length(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b'[{"source": "https://x.example/a.mp4", "hint": "' + b"a" * 5000 + b'"}]'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start:start + 1000]

    async with running_ingest(settings, monkeypatch, api_max_body_bytes="4096") as ingest, \
            aiohttp.ClientSession() as http:
        sized = await http.post(ingest.url, data=big, headers=bearer())
        streamed = await http.post(ingest.url, data=chunks(), headers=bearer())  # chunked: no Content-Length
        small = await http.post(ingest.url, json=CLIP, headers=bearer())
        assert sized.status == 413 and "MIRA_API_MAX_BODY_BYTES" in (await sized.json())["error"]
        assert streamed.status == 413
        assert small.status == 202


async def test_more_clips_than_the_cap_are_refused_whole(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_ingest(settings, monkeypatch, api_max_clips="3") as ingest, aiohttp.ClientSession() as http:
        clips = [{"source": f"https://x.example/{i}.mp4"} for i in range(4)]
        over = await http.post(ingest.url, json=clips, headers=bearer())
        at_cap = await http.post(ingest.url, json=clips[:3], headers=bearer())
        assert over.status == 413 and "MIRA_API_MAX_CLIPS" in (await over.json())["error"]
        assert at_cap.status == 202


async def test_a_token_over_its_rate_gets_429_and_other_tokens_go_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_ingest(settings, monkeypatch, api_rate_per_s="0.001", api_rate_burst="3") as ingest, \
            aiohttp.ClientSession() as http:
        statuses = [(await http.post(ingest.url, json=CLIP, headers=bearer())).status for _ in range(3)]
        limited = await http.post(ingest.url, json=CLIP, headers=bearer())
        other = await http.post(ingest.url, json=CLIP, headers=bearer(OTHER_TOKEN))
        assert statuses == [202, 202, 202]
        assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
        assert other.status == 202


def test_beyond_loopback_without_tokens_it_refuses_to_start_with_one_line(kafka_bootstrap: str, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(MIRA_HOME=str(tmp_path), MIRA_KAFKA_BOOTSTRAP=kafka_bootstrap, MIRA_API_HOST="0.0.0.0",
               MIRA_HEALTH_PORT="0")
    run = subprocess.run([sys.executable, "-m", "cli.main", "run", "ingest"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2
    assert len(lines) == 1 and "MIRA_API_TOKENS" in lines[0] and "MIRA_API_HOST" in lines[0], run.stderr


async def test_a_taken_api_port_stops_the_service_with_one_clear_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("MIRA_API_PORT", str(taken.getsockname()[1]))
        code = await asyncio.wait_for(Runner(IngestStage(), settings).run(), timeout=60)
    assert code == 2
    assert "ingest API cannot listen" in caplog.text and "MIRA_API_PORT" in caplog.text
    assert "Traceback" not in caplog.text
