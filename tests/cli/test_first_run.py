"""What `make run` does after writing the samples (cli/firstrun.py), as a newcomer sees it: without a key the
clips are captioned through the local offline model, labelled as placeholders in every record and in the
summary, exported outside the input folder, and the last lines say where everything is and how to switch
to a real model; with a base URL the real model captions and replaces the placeholder versions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_video

ROOT = Path(__file__).resolve().parents[2]


def first_run(env: dict[str, str], folder: Path, export: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.firstrun", str(folder), str(export)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=False)


def records(export: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in export.read_text().splitlines()]


def test_without_a_key_the_samples_get_labelled_placeholder_captions_and_the_way_on(
        mira_env: dict[str, str], fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    folder, export = tmp_path / "samples", tmp_path / "out" / "captions.jsonl"
    make_video(folder / "street.mp4", codec="h264", seconds=2, fps=12, width=160, height=96)
    make_video(folder / "beach.webm", codec="vp9", seconds=2, fps=12, width=160, height=96)
    keyless = {k: v for k, v in mira_env.items() if not k.startswith("OPENAI_")}

    done = first_run(keyless, folder, export)

    assert done.returncode == 0, done.stdout + done.stderr
    placeholder = records(export)
    assert len(placeholder) == 2 and {r["model"] for r in placeholder} == {"mira-placeholder"}
    assert all(r["status"] == "success" and r["dense_caption"] and r["cost_usd"] == 0 for r in placeholder)
    assert "model: mira-placeholder" in done.stdout and "PLACEHOLDER captions" in done.stdout  # the summary
    closing = done.stdout.split("=" * 100)[-1]
    assert "Done: 2 clips captioned (2 by mira-placeholder)" in closing
    assert f"records:      {export}" in closing and "grids:" in closing
    assert "review page:" in closing and "mira review" in closing
    assert "real model:   OPENAI_API_KEY=sk-... make run" in closing
    assert sorted(p.name for p in folder.iterdir()) == ["beach.webm", "street.mp4"]  # the export is elsewhere
    assert not fake_openai.requests  # no model of anyone's was asked

    real = {**keyless, "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test-secret-123"}
    again = first_run(real, folder, export)

    assert again.returncode == 0, again.stdout + again.stderr
    replaced = records(export)
    assert {(r["model"], r["version"]) for r in replaced} == {("gpt-4o", 2)}
    assert len(fake_openai.chat_requests) == 2  # one paid call per clip, none wasted
    assert "Done: 2 clips captioned (2 by gpt-4o)" in again.stdout and "real model:" not in again.stdout
