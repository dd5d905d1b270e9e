"""What `mira caption --wait` tells its user when things go wrong, or when there was nothing to pay for:
the model endpoint's trouble while it retries and as the clip's failure reason, clips recorded before kept
apart from this run's calls and cost, files a folder scan passed over, and a service that keeps dying."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import time
from pathlib import Path

from shared.store.records import RecordStore
from tests.cli.conftest import mira, start_mira, wait_for_text
from tests.fake_openai.server import FakeOpenAI

FAST_RETRIES = {"MIRA_CAPTION_MAX_RETRIES": "2", "MIRA_CAPTION_BACKOFF_BASE_S": "0.2",
                "MIRA_CAPTION_BACKOFF_MAX_S": "0.5", "MIRA_MAX_ATTEMPTS": "2", "MIRA_RETRY_BASE_S": "0.1",
                "MIRA_RETRY_MAX_S": "0.2"}


def test_unreachable_model_endpoint_is_named_while_the_clip_waits_and_in_the_summary(
        mira_env: dict[str, str], clip: Path) -> None:
    env = {**mira_env, **FAST_RETRIES, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    done = mira(env, "caption", str(clip), "--wait", "--timeout", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    # on the progress line while it retries (which attempt a half-second poll catches varies)
    assert re.search(r"\| caption: retrying, connection refused to 127\.0\.0\.1:9, attempt \d", done.stderr)
    # An endpoint that does not answer is an outage, not the clip's fault: it waits (here until the timeout),
    # never dead-lettered, and the summary says what it was waiting for.
    assert "dead-lettered" not in done.stdout
    assert re.search(r"stopped early: timed out .*connection refused to 127\.0\.0\.1:9", done.stdout), done.stdout
    assert "Traceback" not in done.stderr


def test_rerun_of_recorded_clips_pays_nothing_and_says_so(mira_env: dict[str, str], fake_openai: FakeOpenAI,
                                                         clip: Path) -> None:
    (clip.parent / "raw.h264").write_bytes(b"\0\0\0\1" * 64)  # an elementary stream: not taken for a video
    first = mira(mira_env, "caption", str(clip.parent), "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    calls = len(fake_openai.requests)
    assert calls == 1 and "this run: 1 model call;" in first.stdout
    assert f"skipped: {clip.parent / 'raw.h264'}: not a video file name (.h264)" in first.stderr

    again = mira(mira_env, "caption", str(clip), "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(fake_openai.requests) == calls
    assert "recorded: 1 success (1 already recorded, no model call)" in again.stdout
    assert "this run: 0 model calls; tokens: 0 input (0 image), 0 output; cost $0.000000" in again.stdout
    assert list(Path(mira_env["TMPDIR"]).iterdir()) == []  # the fork server's socket folder went with it

    status = mira(mira_env, "status", "--json")  # no pipeline left running: the stored records only
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    with RecordStore.open(f"sqlite:///{Path(mira_env['MIRA_HOME']).resolve() / 'mira.db'}") as store:
        totals = store.totals()
    assert shown["pipeline"] is None
    assert shown["records"] == {"versions": 1, "clips": 1, "latest_by_status": {"success": 1},
                                "input_tokens": totals.input_tokens, "image_tokens": totals.image_tokens,
                                "output_tokens": totals.output_tokens, "cost_usd": round(totals.cost_usd, 6),
                                "quality": {"by_quality": {"ok": 1}, "by_rule": {}, "repairs": {}}}
    assert totals.input_tokens > 0 and totals.cost_usd > 0

    exported = Path(mira_env["MIRA_HOME"]) / "records.csv"
    assert mira(mira_env, "export", "--format", "csv", "-o", str(exported)).returncode == 0
    row = next(csv.DictReader(exported.open()))
    assert row["cost_usd"] == str(round(totals.cost_usd, 6))  # micro-dollars, no float noise


def test_a_service_that_keeps_dying_is_given_up_with_its_last_lines(mira_env: dict[str, str],
                                                                   fake_openai: FakeOpenAI, clip: Path,
                                                                   tmp_path: Path) -> None:
    fake_openai.configure(latency_s=60)
    log = tmp_path / "caption.log"
    proc = start_mira(mira_env, "caption", str(clip), "--wait", log=log)
    wait_for_text(log, "submitted 1 clip", proc)
    pipeline = Path(mira_env["MIRA_HOME"]) / "pipeline.json"
    killed: set[int] = set()
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            pid = json.loads(pipeline.read_text())["services"]["framegrid"]["pid"]
        except FileNotFoundError:  # the command is ending: its pipeline file goes first
            continue
        if pid not in killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.1)
    output = log.read_text()
    assert proc.wait(30) == 1, output
    assert len(killed) == 3, output  # started three times, then left alone
    assert "stopped early: the framegrid service keeps failing: exited with -9" in output
    assert "its last log lines:" in output and "Traceback" not in output


def test_caption_stops_waiting_for_a_service_mira_up_gave_up(mira_env: dict[str, str], clip: Path,
                                                             tmp_path: Path) -> None:
    with socket.socket() as taken:  # the ingest API's port is held by something else
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**mira_env, "MIRA_API_PORT": str(taken.getsockname()[1])}
        log = tmp_path / "up.log"
        up = start_mira(env, "up", log=log)
        try:
            wait_for_text(log, "the ingest service cannot work", up)
            done = mira(env, "caption", str(clip), "--wait", timeout=60)
        finally:
            up.send_signal(signal.SIGTERM)
            assert up.wait(60) == 1  # `mira up` says a service had to be given up
    assert done.returncode == 1, done.stdout + done.stderr
    assert "stopped early: the ingest service of the pipeline running on this MIRA_HOME cannot work" in done.stdout
