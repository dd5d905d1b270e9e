"""`mira stats`: word counts per caption type on texts of known length, shared captions flagged, PNG."""

from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from cli import stats as stats_cli
from shared.stats import CAPTION_TYPES, TypeStats, compute, report, write_histogram
from shared.store import RecordStore
from tests.store.factories import captions, result


def fill(store: RecordStore) -> None:
    """20 clips whose newest dense caption has 1..20 words; clips 3 and 7 share a main-object caption."""
    store.record(result("c00", "old", caps=captions(100)))  # superseded below: must not count
    for i in range(20):
        store.record(result(f"c{i:02d}", f"j{i}", caps=captions(i + 1, tag="x" if i in (3, 7) else str(i))))
    store.record(result("c20", "j20", status="failed"))  # no GPT captions, but its hint counts


def test_word_counts_per_type_on_newest_versions(store: RecordStore) -> None:
    fill(store)
    by_type = {s.caption_type: s for s in compute(store)}
    assert list(by_type) == list(CAPTION_TYPES)
    dense = by_type["dense_caption"]
    assert (dense.count, dense.mean, dense.median, dense.p95) == (20, 10.5, 10.5, 19)
    assert dense.reference_mean == 87
    short = by_type["short_caption"]  # "a fox in the snow" on all 21 clips
    assert (short.count, short.mean, short.median, short.p95) == (21, 5, 5, 5)
    assert by_type["background_caption"].mean == 4 and by_type["style_caption"].reference_mean == 30


def test_identical_captions_of_different_clips_are_flagged(store: RecordStore) -> None:
    fill(store)
    by_type = {s.caption_type: s for s in compute(store)}
    assert (by_type["main_object_caption"].shared_texts, by_type["main_object_caption"].shared_examples) == (
        1,
        [("A red fox x", 2)],
    )
    assert by_type["background_caption"].shared_examples == [("Snowy forest at dawn.", 20)]
    assert by_type["short_caption"].shared_examples == [("a fox in the snow", 21)]
    assert by_type["dense_caption"].shared_texts == 0  # c00's old version repeats no one's newest


def test_median_and_p95_use_every_caption() -> None:
    s = TypeStats("camera_caption", Counter({1: 1, 2: 1, 3: 1, 4: 1, 100: 1}))
    assert (s.count, s.mean, s.median, s.p95) == (5, 22, 3, 100)
    empty = TypeStats("camera_caption")
    assert empty.count == 0 and math.isnan(empty.mean) and math.isnan(empty.p95)


def test_cli_prints_figures_beside_miradata_and_writes_histogram(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with RecordStore.open(store_url) as store:
        fill(store)
    monkeypatch.setenv("MIRA_DATABASE_URL", store_url)
    parser = argparse.ArgumentParser()
    stats_cli.add_parser(parser.add_subparsers())
    png = tmp_path / "hist.png"
    assert stats_cli.run(parser.parse_args(["stats", "-o", str(png)])) == 0

    out = capsys.readouterr().out
    dense_row = next(line for line in out.splitlines() if line.startswith("dense_caption"))
    assert dense_row.split() == ["dense_caption", "20", "10.5", "10.5", "19", "~87"]
    assert "identical main_object_caption shared by different clips: 1 text, e.g." in out
    assert "2 clips: 'A red fox x'" in out

    image = Image.open(png)
    assert image.format == "PNG" and image.size == (1260, 544)
    colors = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    present = {rgb for _, rgb in colors}
    assert {(86, 132, 196), (30, 60, 160), (205, 50, 40)} <= present  # bars, our mean, MiraData's mean


def test_report_on_an_empty_store_has_no_figures(store: RecordStore) -> None:
    lines = report(compute(store)).splitlines()
    assert lines[2].split() == ["dense_caption", "0", "-", "-", "-", "~87"]
    assert lines[-1] == "identical captions shared by different clips: none"


def test_histogram_has_a_panel_of_bars_per_type(tmp_path: Path) -> None:
    figures = [TypeStats(t, Counter({5 + i: 3, 40: 1})) for i, t in enumerate(CAPTION_TYPES)]
    write_histogram(figures, tmp_path / "h.png")
    image = Image.open(tmp_path / "h.png").convert("RGB")
    for panel in range(6):
        x0, y0 = (panel % 3) * 420, (panel // 3) * 260
        region = image.crop((x0, y0, x0 + 420, y0 + 260))
        assert any(rgb == (86, 132, 196) for _, rgb in region.getcolors(maxcolors=1 << 16) or []), panel
