"""The whole pipeline as separate OS processes on the local broker, driven by the `mira` command, with the
model behind the local OpenAI-compatible server: what a user sees from `mira caption --wait`."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import Up, mira
from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_corrupt, make_video

CAPTION_COLUMNS = ["short_caption", "dense_caption", "main_object_caption", "background_caption",
                   "camera_caption", "style_caption"]


def make_inputs(root: Path) -> tuple[Path, Path]:
    clips = root / "clips"
    make_video(clips / "street.mp4", codec="h264", seconds=3, fps=12, width=160, height=96)
    make_video(clips / "forest.webm", codec="vp9", seconds=3, fps=12, width=160, height=96)
    make_corrupt(clips / "broken.mp4")
    longer = make_video(root / "long" / "talk.mp4", codec="h264", seconds=12, fps=12, width=160, height=96, gop=24)
    manifest = root / "panda.csv"
    manifest.write_text(
        "videoID,url,timestamp,caption,matching_score\n"
        f"talk,{longer},\"[['0:00:04.000', '0:00:08.000']]\",\"['A person talks in front of a wall.']\",\"[0.5]\"\n"
    )
    return clips, manifest


def wait_for(predicate, timeout_s: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def white_bands(means: np.ndarray) -> int:
    """How many runs of near-white lines (full rows or columns) cross the picture."""
    white = means > 230
    return int(np.count_nonzero(white[1:] & ~white[:-1]) + white[0])


def white_separators(jpeg: bytes) -> bool:
    """2 rows x 4 columns: one white band across, three down, wherever the layout puts them."""
    img = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.int16)
    return (white_bands(img.mean(axis=1)), white_bands(img.mean(axis=0))) == (1, 3)


@pytest.mark.parametrize("broker", ["embedded", "apache-kafka"])
def test_caption_wait_records_every_clip_and_dead_letters_the_corrupt_one(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI, broker: str,
    request: pytest.FixtureRequest,
) -> None:
    """The same flow on the broker `mira up` starts by itself and on the Apache Kafka users deploy."""
    if broker == "apache-kafka":
        mira_env |= {"MIRA_KAFKA_BOOTSTRAP": request.getfixturevalue("kafka_bootstrap"),
                     "MIRA_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.", "MIRA_TOPIC_PARTITIONS": "2"}
    clips, manifest = make_inputs(tmp_path)
    fake_openai.configure(latency_s=0.5)
    up = Up({**mira_env, "MIRA_MAX_IN_FLIGHT": "1"})  # one clip at a time: the SIGTERM lands mid-run
    killed: list[int] = []

    def terminate_caption_mid_run() -> None:
        """SIGTERM the caption service once the first model request has been answered."""
        deadline = time.monotonic() + 120
        while not fake_openai.chat_requests and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = up.services()["caption"]["pid"]
        os.kill(pid, signal.SIGTERM)
        killed.append(pid)

    chaos = threading.Thread(target=terminate_caption_mid_run, daemon=True)
    chaos.start()
    try:
        result = mira(mira_env, "caption", str(clips), "--manifest", str(manifest), "--wait")
        chaos.join(5)
        assert killed, f"the caption service was never stopped mid-run (no model request arrived): {result.stdout}"
        restarted = wait_for(lambda: up.services()["caption"]["pid"] != killed[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{up.health_port('caption')}/healthz", timeout=10) as reply:
            restarted_healthy = reply.status == 200  # the new process's port, as it reported it
        out = tmp_path / "out.jsonl"
        exported = mira(mira_env, "export", "--format", "jsonl", "-o", str(out))
    finally:
        assert up.stop() == 0
    assert len(killed) == 1 and restarted and restarted_healthy  # stopped mid-run, and came back
    # The corrupt clip fails the command, with its reason; every other clip is recorded.
    assert result.returncode == 1, result.stderr
    assert "dead-lettered: 1" in result.stdout
    assert "broken.mp4" in result.stdout and "framegrid" in result.stdout
    assert "recorded: 3 success" in result.stdout
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and len({r["clip_id"] for r in rows}) == 3  # none lost, none duplicated
    for row in rows:
        assert row["status"] == "success" and row["version"] == 1
        assert all(row[c] for c in CAPTION_COLUMNS[1:])
        end = row["end_s"]
        assert len(row["frame_times_s"]) == 8
        assert all(row["start_s"] - 1e-6 <= t <= end + 1e-6 for t in row["frame_times_s"])
    talk = next(r for r in rows if r["source_uri"].endswith("talk.mp4"))
    assert (talk["start_s"], talk["end_s"]) == (4.0, 8.0)
    assert talk["short_caption"] == "A person talks in front of a wall." and talk["hint_source"] == "manifest"
    # Every model request carried the prompt, the hint where there was one, and a 2x4 grid image.
    for sent in fake_openai.chat_requests:
        assert len(sent.images) == 1
        assert white_separators(sent.images[0].data)
    hinted = [r for r in fake_openai.chat_requests if 'video depicts "A person talks in front of a wall' in r.text]
    assert hinted and len(hinted) < len(fake_openai.chat_requests)  # clips without a hint get none
    assert "sk-test-secret-123" not in (tmp_path / "up.log").read_text()


def test_caption_batch_goes_through_the_batch_api_at_the_batch_price(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    clips, _ = make_inputs(tmp_path)
    (clips / "broken.mp4").unlink()
    env = {**mira_env, "MIRA_CAPTION_BATCH_WAIT_S": "1", "MIRA_CAPTION_BATCH_POLL_S": "0.3"}
    live = mira(env, "caption", str(clips / "street.mp4"), "--wait")  # one live call, for the price
    batched = mira(env, "caption", str(clips / "forest.webm"), "--wait", "--batch")
    assert live.returncode == 0 and batched.returncode == 0, batched.stderr
    assert len(fake_openai.batches_created) == 1
    out = tmp_path / "out.jsonl"
    assert mira(env, "export", "--format", "jsonl", "-o", str(out)).returncode == 0
    rows = {Path(r["source_uri"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["forest.webm"]["status"] == "success" and rows["forest.webm"]["dense_caption"]
    live_cost = rows["street.mp4"]["cost_usd"] / rows["street.mp4"]["input_tokens"]
    batch_cost = rows["forest.webm"]["cost_usd"] / rows["forest.webm"]["input_tokens"]
    assert abs(batch_cost / live_cost - 0.5) < 0.1  # same grid size: half the price per token


def test_without_a_model_endpoint_every_free_stage_runs_and_the_cost_is_estimated(
    tmp_path: Path, mira_env: dict[str, str]
) -> None:
    clips, manifest = make_inputs(tmp_path)
    (clips / "broken.mp4").unlink()
    env = {k: v for k, v in mira_env.items() if not k.startswith("OPENAI_")}
    result = mira(env, "caption", str(clips), "--manifest", str(manifest), "--wait")
    assert result.returncode == 0, result.stderr
    assert "grids rendered and hinted: 3" in result.stdout
    assert "NOT captioned: no OPENAI_API_KEY or OPENAI_BASE_URL is set" in result.stdout
    estimate = float(result.stdout.split("would cost about $")[1].split()[0])
    assert 0.001 < estimate < 0.1  # three gpt-4o calls with a 1445-token grid each
    grids = list((Path(env["MIRA_HOME"]) / "blobs").rglob("*.jpg"))
    assert len(grids) == 3


def test_a_rejected_api_key_stops_captioning_with_a_clear_message_and_no_secret(
    tmp_path: Path, mira_env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    clips, _ = make_inputs(tmp_path)
    fake_openai.configure(api_key="sk-the-right-one")
    result = mira(mira_env, "caption", str(clips / "street.mp4"), "--wait", timeout=120)
    assert result.returncode == 1
    assert "the caption service cannot work" in result.stderr and "401" in result.stderr
    assert "unfinished: 1 clip" in result.stdout  # not dead-lettered: it waits for a working key
    logs = "".join(p.read_text() for p in (Path(mira_env["MIRA_HOME"]) / "logs").glob("*.log"))
    assert "sk-test-secret-123" not in logs + result.stderr + result.stdout
    assert len(fake_openai.requests) == 1  # one rejected call, then the consumer stopped
