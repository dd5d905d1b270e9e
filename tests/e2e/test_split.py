"""Raw footage to clips, as a user runs it: `mira caption --wait` on whole videos with the split stage in the
embedded pipeline, then `mira export`: one record per shot, bounds within a few frames of the truth."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.e2e.conftest import mira
from tests.media.shots import Shot, Transition, make_footage

FPS = 10
SHOTS = [22.0, 18.0, 25.0, 15.0, 20.0, 20.0]  # two minutes, six shots
TRANSITIONS = [Transition(), Transition("fade", 1.0), Transition(), Transition("dissolve", 1.0), Transition()]


def exported(env: dict[str, str], tmp_path: Path, *args: str) -> list[dict[str, object]]:
    out = tmp_path / "out.jsonl"
    done = mira(env, "export", "--format", "jsonl", *args, "-o", str(out))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_six_shots_become_six_records_and_one_long_shot_two_pieces(tmp_path: Path, mira_env: dict[str, str]) -> None:
    six, single = tmp_path / "raw" / "six.mp4", tmp_path / "raw" / "single.mp4"
    truth = make_footage(six, [Shot(s, 10 + 7 * i) for i, s in enumerate(SHOTS)], TRANSITIONS, fps=FPS)
    make_footage(single, [Shot(80.0, 3)], fps=FPS)
    env = {**mira_env, "MIRA_SPLIT": "always", "MIRA_CLIP_MIN_S": "3", "MIRA_CLIP_MAX_S": "45"}

    done = mira(env, "caption", str(six), str(single), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "split: 2 videos into 8 clips at shot boundaries; 0 shots dropped" in done.stdout

    records = exported(env, tmp_path)
    by_source: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        assert r["status"] == "success"
        by_source.setdefault(Path(str(r["source_uri"])).name, []).append((r["start_s"], r["end_s"]))
    bounds = [0.0, *(t.time_s for t in truth), sum(SHOTS)]
    expected = list(itertools.pairwise(bounds))
    got = sorted(by_source["six.mp4"])
    assert len(got) == 6
    for (start, end), (true_start, true_end) in zip(got, expected):
        assert abs(start - true_start) <= 2 / FPS and abs(end - true_end) <= 2 / FPS, (got, expected)
    pieces = sorted(by_source["single.mp4"])
    assert len(pieces) == 2 and all(abs((e - s) - 40) <= 0.5 for s, e in pieces), pieces

    cut_lists = exported(env, tmp_path, "--cuts")
    six_cuts = next(c for c in cut_lists if str(c["source_uri"]).endswith("six.mp4"))
    assert six_cuts["complete"] is True
    assert [c["kind"] for c in six_cuts["cuts"]] == ["cut", "fade", "cut", "dissolve", "cut"]  # type: ignore[index]

    again = mira(env, "caption", str(six), "--wait")  # the same video split again: same clips, no new version
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(6 already recorded, no model call)" in again.stdout
    assert len(exported(env, tmp_path, "--version", "all")) == len(records)


def test_split_and_no_split_override_mira_split_for_one_run(tmp_path: Path, mira_env: dict[str, str]) -> None:
    short, long = tmp_path / "raw" / "short.mp4", tmp_path / "raw" / "long.mp4"
    make_footage(short, [Shot(4.0, 1), Shot(4.0, 8)], fps=FPS)  # 8 s: auto would caption it whole
    make_footage(long, [Shot(4.0, 15), Shot(4.0, 22), Shot(4.0, 29)], fps=FPS)  # 12 s: auto would cut it
    env = {**mira_env, "MIRA_CLIP_MIN_S": "2", "MIRA_CLIP_MAX_S": "10"}  # MIRA_SPLIT: auto, the default

    for args in ((str(short), "--split"), (str(long), "--no-split")):
        done = mira(env, "caption", *args, "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in exported(env, tmp_path):
        spans.setdefault(Path(str(r["source_uri"])).name, []).append((r["start_s"], r["end_s"]))
    assert sorted(spans["short.mp4"]) == [(0.0, 4.0), (4.0, 8.0)]
    assert [start for start, _ in spans["long.mp4"]] == [0.0]  # one clip: the whole video
