"""The split stage's parts on real, tiny videos: MiraData's length rules, the detector's boundaries and its
negatives, and a video that becomes unreadable part-way."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.split.scan import Scan
from services.split.segments import Lengths, Piece
from services.split.settings import SplitSettings
from shared.runtime.errors import Fatal
from tests.bench.split import ours
from tests.framegrid.test_decode_device import fallback_lines, fresh_probe  # noqa: F401 - autouse fixture
from tests.media.shots import Shot, Transition, make_footage
from tests.media.videos import make_truncated
from tests.split.support import scan_steps


def test_short_shots_are_dropped_with_the_reason_and_long_ones_cut_into_near_equal_pieces() -> None:
    pieces, dropped = Lengths(3, 45).clips([2.0, 82.0], 100.0, 100.0)
    assert pieces == [Piece(2.0, 42.0), Piece(42.0, 82.0), Piece(82.0, 100.0)]
    assert [(d.start_s, d.end_s) for d in dropped] == [(0.0, 2.0)]
    assert "MIRA_CLIP_MIN_S" in dropped[0].reason


def test_an_open_shot_streams_pieces_that_its_closed_form_keeps() -> None:
    lengths = Lengths(3, 45)
    streamed, _ = lengths.clips([], 95.0, None)  # one shot, still going at 95 s
    closed, _ = lengths.clips([], 130.0, 130.0)
    assert streamed == [Piece(0.0, 45.0)] and closed[0] == streamed[0]
    assert [p.end_s - p.start_s for p in closed[1:]] == [42.5, 42.5]


def test_cuts_fades_and_dissolves_are_found_and_flashes_pans_and_close_subjects_are_not(tmp_path: Path) -> None:
    shots = [Shot(8, 21), Shot(8, 28, flashes=(3.0,)), Shot(8, 35, "fast"), Shot(8, 42, passes=(2.0,)), Shot(8, 49)]
    transitions = [Transition(), Transition("fade", 1.0), Transition("dissolve", 1.0), Transition()]
    truth = make_footage(tmp_path / "v.mp4", shots, transitions, fps=10)
    found, _ = ours(tmp_path / "v.mp4")
    assert len(found) == len(truth)
    assert all(abs(f - t.time_s) <= (0.5 if t.gradual else 0.2) for f, t in zip(found, truth, strict=True))


def test_a_video_unreadable_part_way_keeps_what_was_found_before(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mkv"
    make_footage(whole, [Shot(10, 1), Shot(10, 8), Shot(20, 15)], fps=10)
    cut = make_truncated(whole, tmp_path / "cut.mkv", 0.6)
    steps = scan_steps(str(cut), SplitSettings(allowed_sources=str(tmp_path)))
    assert [round(b.time_s) for s in steps for b in s.boundaries] == [10, 20]
    assert steps[-1].failure is not None and "truncated" in steps[-1].failure


def test_clip_lengths_are_checked_at_start_up() -> None:
    with pytest.raises(ValueError, match="MIRA_CLIP_MIN_S"):
        SplitSettings(clip_min_s=100, clip_max_s=50)


def test_scans_decode_where_framegrid_does_and_fall_back_to_cpu_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No GPU here: `auto` scans on CPU after framegrid's one INFO line, `cuda` refuses (shared/video/source.py, as framegrid)."""
    path = tmp_path / "v.mkv"
    make_footage(path, [Shot(4, 1), Shot(4, 8)], fps=10)
    caplog.set_level(logging.INFO)
    runs = [scan_steps(str(path), SplitSettings(allowed_sources=str(tmp_path), decode_device="auto")) for _ in range(2)]
    assert [[round(b.time_s) for s in steps for b in s.boundaries] for steps in runs] == [[4], [4]]
    assert fallback_lines(caplog) == ["no CUDA device available: decoding on CPU (MIRA_DECODE_DEVICE=auto)"]
    assert [r.levelname for r in caplog.records if "CUDA" in r.getMessage()] == ["INFO"]
    with pytest.raises(Fatal, match="MIRA_DECODE_DEVICE=cuda but no CUDA device"):
        Scan(str(path), SplitSettings(allowed_sources=str(tmp_path), decode_device="cuda"))
