"""The issue's run: the model's first answer defective for about half the clips, through the whole pipeline
driven by `mira caption --wait`. Every defect ends repaired or recorded as suspect with the right rule, no
clean answer is flagged, no question is asked more than twice, every record has six caption types, and the
quality columns are in every export format; `mira status`, `mira stats`, `mira qa recheck` and
`mira recaption --rule` see the same records."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from cli.localmodel.replies import defect_of, is_quality_repair
from shared.store import RecordStore
from tests.e2e.conftest import mira
from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_video

DEFECTS = ("medium", "narration", "refusal", "cut_off", "repetition", "length", "markup", "language")


def test_half_the_first_answers_defective_ends_repaired_or_suspect_with_the_right_rule(
    mira_env: dict[str, str], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.configure(defect_share=0.5, defects=DEFECTS, repairs_fix=0.7)
    clips = tmp_path / "clips"
    for k in range(12):  # distinct lengths: distinct sampled frames, so distinct grids
        make_video(clips / f"clip{k:02d}.mp4", seconds=1.0 + 0.25 * k, fps=12, width=160, height=96)
    run = mira(mira_env, "caption", str(clips), "--wait")
    assert run.returncode == 0, run.stdout + run.stderr

    asked: dict[str, list[bool]] = {}  # grid sha256 -> is each of its caption requests a repair
    expected: dict[str, str | None] = {}
    for r in fake_openai.chat_requests:
        grid = hashlib.sha256(r.images[0].data).hexdigest()
        asked.setdefault(grid, []).append(is_quality_repair(r.body))
        if not is_quality_repair(r.body):
            expected[grid] = defect_of(r.body, 0.5, DEFECTS)
    assert all(len(calls) <= 2 and calls[0] is False for calls in asked.values())  # never more than twice

    url = f"sqlite:///{Path(mira_env['MIRA_HOME']).resolve() / 'mira.db'}"
    with RecordStore.open(url) as store:
        records = list(store.iter_records())
    assert len(records) == 12 and set(expected) == {r.grid_sha256 for r in records}
    defective = [r for r in records if expected[r.grid_sha256]]
    assert 2 <= len(defective) <= 10  # about half
    for r in records:
        assert r.short_caption and r.hint_source == "caption_model"  # six caption types, the sixth by the model
        rule = expected[r.grid_sha256]
        if rule is None:
            assert (r.quality, r.quality_reasons, r.repair) == ("ok", [], None), r.clip_id
            continue
        assert rule in {q.rule for q in r.repair_reasons or []}, (r.clip_id, rule, r.repair_reasons)
        if r.repair == "repaired":
            assert r.quality == "ok" and r.quality_reasons == []
        else:
            assert r.repair == "kept_first" and r.quality == "suspect"
            assert rule in {q.rule for q in r.quality_reasons or []}
        assert len(asked[r.grid_sha256]) == 2
    repaired = sum(r.repair == "repaired" for r in records)
    kept = [r for r in records if r.repair == "kept_first"]

    status = mira(mira_env, "status")
    assert f"quality: {12 - len(kept)} ok, {len(kept)} suspect" in status.stdout, status.stdout
    if repaired:
        assert f"{repaired} repaired" in status.stdout
    assert "quality:" in mira(mira_env, "stats").stdout

    home = Path(mira_env["MIRA_HOME"])
    for fmt in ("jsonl", "csv", "parquet"):
        out = home / f"suspect.{fmt}"
        assert mira(mira_env, "export", "--format", fmt, "--quality", "suspect", "-o", str(out)).returncode == 0
        if fmt == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        elif fmt == "csv":
            rows = list(csv.DictReader(out.open()))
        else:
            rows = pq.read_table(out).to_pylist()
        assert sorted(row["clip_id"] for row in rows) == sorted(r.clip_id for r in kept), fmt
        columns = set(rows[0]) if rows else set(pq.read_schema(out).names) if fmt == "parquet" else set()
        if rows or fmt == "parquet":
            assert {"quality", "quality_reasons", "repair", "repair_reasons", "verdict", "verdict_by",
                    "verdict_at"} <= columns, fmt

    recheck = mira(mira_env, "qa", "recheck")
    assert recheck.returncode == 0 and "rechecked 12 records" in recheck.stdout and "0 changed" in recheck.stdout
    if kept:
        rule = expected[kept[0].grid_sha256]
        dry = mira(mira_env, "recaption", "--rule", str(rule), "--dry-run")
        assert dry.returncode == 0 and dry.stdout.startswith("would recaption "), dry.stdout + dry.stderr
        assert int(dry.stdout.split()[2]) == sum(expected[r.grid_sha256] == rule for r in kept)
