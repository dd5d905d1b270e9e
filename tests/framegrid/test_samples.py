"""`make run` captions the sample clips `python -m tests.media.samples DIR` writes: each must render."""

from __future__ import annotations

from pathlib import Path

from tests.framegrid.support import render, shown_indices
from tests.media.samples import SAMPLES, main


def test_samples_are_written_once_and_each_renders_a_grid(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert set(written) == set(SAMPLES)
    assert main([str(tmp_path)]) == 0  # a second run keeps what is there
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == written
    for name in SAMPLES:
        shown = shown_indices(render(tmp_path / name))
        assert shown == sorted(shown) and len(set(shown)) == 8, name
