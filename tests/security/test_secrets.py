"""Secrets stay secret: keys a model server echoes back, and tokens in signed source URLs, never reach a
log line, a dead letter, a record, a topic after framegrid, or an export."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from shared import kafka, redact
from shared.messages import CaptionRecord, CaptionResult, DeadLetter, GridReady, HintReady
from shared.runtime.errors import Fatal
from shared.settings import Settings
from shared.topics import Topic
from tests.caption.conftest import GRID_H, GRID_W, make_grid
from tests.e2e.conftest import Up, mira, mira_env  # noqa: F401 - fixtures
from tests.fake_openai.fixtures import fake_openai_of_its_own  # noqa: F401 - fixture fake_openai
from tests.fake_openai.server import FakeOpenAI
from tests.media.httpserver import serve_directory
from tests.media.videos import make_video

GSK_KEY = "gsk_" + "Qx7" * 16  # another provider's key shape
HEX_KEY = "5f2b9c0e" * 5  # a plain hex key


def test_a_gsk_key_the_model_server_echoes_in_a_401_never_reaches_a_log(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI  # noqa: F811
) -> None:
    video = make_video(tmp_path / "clip.mp4", codec="h264", seconds=2, fps=12, width=160, height=96)
    fake_openai.configure(api_key="sk-the-right-one")
    env = {**mira_env, "OPENAI_API_KEY": GSK_KEY}
    result = mira(env, "caption", str(video), "--wait", timeout=120)
    assert result.returncode == 1 and "401" in result.stderr  # the server was asked, and said no
    assert fake_openai.requests[0].authorization == f"Bearer {GSK_KEY}"  # so its reply echoed the key
    logs = "".join(p.read_text() for p in (Path(env["MIRA_HOME"]) / "logs").glob("*.log"))
    assert "Incorrect API key provided" in logs  # the echo itself was logged, masked
    for text in (logs, result.stdout, result.stderr):
        assert GSK_KEY not in text and GSK_KEY[:12] not in text


async def test_a_hex_key_echoed_in_a_401_is_masked_in_the_error_and_in_any_log_line(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", HEX_KEY)  # configured the way deployments do
    fake_openai.configure(api_key="sk-the-right-one")
    captioner = Captioner(CaptionSettings(openai_base_url=fake_openai.base_url, caption_max_retries=0))
    try:
        with pytest.raises(Fatal) as caught:
            await captioner.caption(make_grid(), GRID_W, GRID_H, None)
    finally:
        await captioner.aclose()
    assert "401" in caught.value.reason and HEX_KEY not in caught.value.reason
    # The SDK's own error carries the whole echo: logged with its traceback, it is masked all the same.
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    redact.install([handler])
    log = logging.getLogger("tests.security.secrets")
    log.addHandler(handler)
    try:
        log.error("model call failed: %r", caught.value.__context__, exc_info=caught.value)
    finally:
        log.removeHandler(handler)
    assert "Incorrect API key provided" in written.getvalue()
    assert HEX_KEY not in written.getvalue() and HEX_KEY[:8] not in written.getvalue()


def test_a_signed_url_token_never_reaches_records_topics_dead_letters_or_exports(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI  # noqa: F811
) -> None:
    make_video(tmp_path / "site" / "street.mp4", codec="h264", seconds=2, fps=12, width=160, height=96)
    token, missing_token = "SIGxSECRETx0123456789", "SIGxGONEx9876543210"
    with serve_directory(tmp_path / "site") as (base, served):
        signed = f"{base}/street.mp4?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature={token}&X-Amz-Expires=300"
        gone = f"{base}/gone.mp4?sig={missing_token}&v=2"
        # MIRA_API_PORT=0: `mira up` would otherwise hold 8081, which another pipeline on this machine may have.
        env = {**mira_env, "MIRA_ALLOWED_SOURCES": base, "MIRA_API_PORT": "0"}
        up = Up(env)
        try:
            result = mira(env, "caption", signed, gone, "--wait")
            bootstrap = json.loads((up.home / "pipeline.json").read_text())["bootstrap"]
            topics = asyncio.run(_read_topics(Settings(home=up.home, kafka_bootstrap=bootstrap)))
            exports = {fmt: tmp_path / f"records.{fmt}" for fmt in ("csv", "jsonl")}
            for fmt, out in exports.items():
                assert mira(env, "export", "--format", fmt, "-o", str(out)).returncode == 0
        finally:
            up.stop()
    assert result.returncode == 1  # one recorded, one dead-lettered (404)
    assert any(token in r for r in served.requests)  # the source was read with its signature
    records = [json.loads(line) for line in exports["jsonl"].read_text().splitlines()]
    assert [r["source_uri"] for r in records] == [f"{base}/street.mp4"]
    assert {type(m) for m in topics} == {GridReady, HintReady, CaptionResult, CaptionRecord, DeadLetter}
    letters = [m for m in topics if isinstance(m, DeadLetter)]
    assert letters and all(f"{base}/gone.mp4?v=2" in m.payload for m in letters)
    database = (up.home / "mira.db").read_bytes()
    logs = "".join(p.read_text() for p in (up.home / "logs").glob("*.log"))
    stored = [database.decode(errors="replace"), logs, result.stdout, result.stderr,
              *(m.model_dump_json() for m in topics), *(p.read_text() for p in exports.values())]
    # (the --wait summary names each failed source the way its user typed it: their own terminal, not stored)
    stored.remove(result.stdout)
    for secret in (token, missing_token, "AKIAEXAMPLE"):
        assert not [text for text in stored if secret in text]


async def _read_topics(settings: Settings) -> list[object]:
    """Everything on the topics after framegrid, and the dead letters, up to their current ends."""
    found: list[object] = []
    consumer = kafka.make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        for topic, model in ((Topic.GRIDS, GridReady), (Topic.HINTED, HintReady), (Topic.CAPTIONS, CaptionResult),
                             (Topic.RECORDS, CaptionRecord), (Topic.DEAD_LETTERS, DeadLetter)):
            name = kafka.topic_name(settings, topic)
            parts = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
            ends = await kafka.end_offsets(consumer, parts)
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while any([await consumer.position(tp) < ends[tp] for tp in parts]):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [kafka.decode(model, r.value) for r in records]
    finally:
        await consumer.stop()
    return found
