"""`mira deadletters` and `mira deadletters replay` on a running `mira up`: a video whose upload had not
finished (an empty file) is dead-lettered by split, the first stage that reads whole videos, and listed with
its stage, reason and source; once the file is whole, a dry run sends nothing, a replay brings the clip back
as one record, and a second replay adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from shared.store.records import RecordStore
from tests.e2e.conftest import Up, mira
from tests.e2e.test_pipeline import wait_for
from tests.media.videos import make_video, make_zero_bytes


def records(home: Path) -> list[tuple[str, int]]:
    with RecordStore.open(f"sqlite:///{home / 'mira.db'}") as store:
        return [(r.source_uri, r.version) for r in store.iter_records(version="all")]


def test_replay_brings_back_a_clip_dead_lettered_for_a_reason_since_fixed(mira_env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    present = make_video(tmp_path / "videos" / "here.mp4", seconds=2, fps=8, width=64, height=48)
    late = make_zero_bytes(tmp_path / "videos" / "late.mp4")  # its upload has not finished
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("".join(json.dumps({"source": str(p)}) + "\n" for p in (present, late)))
    up = Up(mira_env)
    try:
        first = mira(mira_env, "caption", "--manifest", str(manifest), "--wait")
        assert first.returncode == 1 and "dead-lettered: 1" in first.stdout, first.stdout + first.stderr

        listed = mira(mira_env, "deadletters", "--json")
        assert listed.returncode == 0, listed.stderr
        (letter,) = json.loads(listed.stdout)
        assert (letter["stage"], letter["source"]) == ("split", late.as_uri())
        assert "empty file" in letter["reason"]
        table = mira(mira_env, "deadletters", "--stage", "split", "--reason", "EMPTY")
        assert "split" in table.stdout and "1 dead letters" in table.stdout, table.stdout
        assert "no dead letters match" in mira(mira_env, "deadletters", "--stage", "caption").stdout

        make_video(late, seconds=2, fps=8, width=64, height=56)  # the reason it failed is gone
        dry = mira(mira_env, "deadletters", "replay", "--stage", "split", "--dry-run")
        assert "would resubmit 1 messages (1 to split)" in dry.stdout, dry.stdout + dry.stderr
        assert not wait_for(lambda: len(records(up.home)) > 1, timeout_s=3)  # a dry run sends nothing

        replayed = mira(mira_env, "deadletters", "replay", "--reason", "empty file")
        assert "resubmitted 1 messages (1 to split)" in replayed.stdout, replayed.stdout + replayed.stderr
        assert wait_for(lambda: len(records(up.home)) == 2, timeout_s=60), records(up.home)
        assert sorted(records(up.home)) == sorted([(present.as_uri(), 1), (late.as_uri(), 1)])

        again = mira(mira_env, "deadletters", "replay")
        assert again.returncode == 0 and "resubmitted 1 messages" in again.stdout
        assert not wait_for(lambda: len(records(up.home)) > 2, timeout_s=5)  # recorded once: a no-op
    finally:
        assert up.stop() == 0
