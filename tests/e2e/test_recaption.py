"""A prompt upgrade, end to end: caption 20 clips, change the prompt, recaption by the prompt-version
selector. Every clip gets version 2 from the new prompt, the framegrid stage is not invoked (stored grids are
reused), exports pin either version, and publishing the same request again adds nothing. Runs on SQLite and
on the local PostgreSQL."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import prompt
from tests.e2e.conftest import Up, mira
from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_video
from tests.store import databases

CLIPS = 20
NEW_PROMPT = "Describe this video in five parts: dense_caption, main_object_caption, background_caption, " \
             "camera_caption, style_caption. Mention the lighting in every part."


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with databases.database_url(request.param, tmp_path) as url:
        yield url


def export(env: dict[str, str], path: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    done = mira(env, "export", "--format", "jsonl", "-o", str(path), *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in path.read_text().splitlines()]


def framegrid_metrics(up: Up) -> str:
    port = up.health_port("framegrid")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def test_prompt_upgrade_and_recaption_by_prompt_version(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI, database_url: str
) -> None:
    for i in range(CLIPS):  # each of its own size: distinct grids, so distinct questions for the model
        make_video(tmp_path / "clips" / f"c{i:02}.mp4", seconds=1.5, fps=8, width=96, height=64 + 2 * i)
    env = {**mira_env, "MIRA_DATABASE_URL": database_url}
    first = mira(env, "caption", str(tmp_path / "clips"), "--wait")
    assert first.returncode == 0 and f"recorded: {CLIPS} success" in first.stdout, first.stderr
    old_version = prompt.PROMPT_VERSION

    (tmp_path / "prompt.txt").write_text(NEW_PROMPT)
    env2 = {**env, "MIRA_PROMPT_FILE": str(tmp_path / "prompt.txt")}
    fake_openai.requests.clear()
    up = Up(env2)
    try:
        dry = mira(env2, "recaption", "--prompt-version-not", "current", "--dry-run")
        assert f"would recaption {CLIPS} clips" in dry.stdout, dry.stderr
        assert not fake_openai.requests  # a dry run publishes nothing
        args = ("recaption", "--prompt-version-not", "current", "--request-id", "upgrade-1", "--wait")
        second = mira(env2, *args)
        assert second.returncode == 0 and f"recorded: {CLIPS} success" in second.stdout, second.stderr
        paid = len(fake_openai.chat_requests)
        again = mira(env2, "recaption", "--all", "--request-id", "upgrade-1", "--wait")  # same request again
        assert again.returncode == 0, again.stderr
        metrics = framegrid_metrics(up)
        status = mira(env2, "status")
    finally:
        assert up.stop() == 0
    assert paid == CLIPS and len(fake_openai.chat_requests) == CLIPS  # the repeat paid nothing
    assert all("Mention the lighting" in r.text for r in fake_openai.chat_requests)
    assert 'mira_messages_total{outcome="ok",stage="framegrid"}' not in metrics  # framegrid never ran
    assert 'mira_grids_total{outcome="rendered"}' not in metrics

    assert status.returncode == 0, status.stderr
    assert f"records: {2 * CLIPS} versions of {CLIPS} clips; latest: {CLIPS} success" in status.stdout
    assert "dead letters: 0" in status.stdout
    caption_row = next(line for line in status.stdout.splitlines() if line.startswith("caption"))
    assert caption_row.split()[-1] == "0", status.stdout  # nothing left to caption: no lag

    latest = export(env2, tmp_path / "latest.jsonl")
    assert len(latest) == CLIPS
    assert {(r["version"], r["request_id"]) for r in latest} == {(2, "upgrade-1")}
    new_versions = {r["prompt_version"] for r in latest}
    assert len(new_versions) == 1 and old_version not in new_versions
    v1 = export(env2, tmp_path / "v1.jsonl", "--version", "1")
    assert len(v1) == CLIPS and {(r["version"], r["prompt_version"]) for r in v1} == {(1, old_version)}
    everything = export(env2, tmp_path / "all.jsonl", "--version", "all")
    assert len(everything) == 2 * CLIPS  # no gaps, no duplicates
    spent = float(status.stdout.split("cost $")[1].split()[0])
    assert spent > 0 and abs(spent - sum(r["cost_usd"] for r in everything)) < 1e-3
    # The same grid served both versions.
    by_clip: dict[str, set[str]] = {}
    for r in everything:
        by_clip.setdefault(r["clip_id"], set()).add(r["grid_sha256"])
    assert all(len(shas) == 1 for shas in by_clip.values())
