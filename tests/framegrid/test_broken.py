"""Broken and hostile inputs are refused with a reason a user can act on (they go to the dead-letter
topic as BadInput), never retried and never crash the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.runtime.errors import BadInput
from tests.framegrid.support import Videos, render
from tests.media.videos import make_audio_only, make_corrupt, make_not_video, make_truncated, make_zero_bytes


def reason(path: Path | str, **kw: object) -> str:
    with pytest.raises(BadInput) as caught:
        render(path, **kw)
    return caught.value.reason


def test_zero_byte_file(tmp_path: Path) -> None:
    assert reason(make_zero_bytes(tmp_path / "empty.mp4")) == "empty file (0 bytes)"


def test_missing_file(tmp_path: Path) -> None:
    assert "source not found" in reason(tmp_path / "nowhere.mp4")


def test_text_file_named_like_a_video(tmp_path: Path) -> None:
    assert "not a readable video file" in reason(make_not_video(tmp_path / "list.mp4"))


def test_audio_only_file(tmp_path: Path) -> None:
    assert reason(make_audio_only(tmp_path / "podcast.m4a")) == "audio only: the file has no video stream"


def test_mp4_cut_before_its_index(videos: Videos, tmp_path: Path) -> None:
    src = videos.get("long.mp4", seconds=20, fps=12, gop=24)  # PyAV writes the moov index at the end
    assert "not a readable video file" in reason(make_truncated(src, tmp_path / "cut.mp4"))


def test_webm_cut_in_the_middle_says_where_the_data_ends(videos: Videos, tmp_path: Path) -> None:
    src = videos.get("plain-vp9.webm", codec="vp9", seconds=4, fps=12, gop=12)
    message = reason(make_truncated(src, tmp_path / "cut.webm", 0.5), sample_mode="exact")
    assert message.startswith("truncated: video data ends at")


def test_corrupt_packets_mid_stream(tmp_path: Path) -> None:
    assert reason(make_corrupt(tmp_path / "corrupt.mp4"), sample_mode="exact").startswith(
        "corrupt video data after"
    )


def test_clip_starting_past_the_end(videos: Videos) -> None:
    src = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    assert (
        reason(src, start_s=25.0, end_s=30.0)
        == "clip starts at 25.000 s, past the end of the video (20.000 s)"
    )


def test_empty_clip_range(videos: Videos) -> None:
    src = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    assert "empty clip range" in reason(src, start_s=5.0, end_s=5.0)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ({"max_file_bytes": 1000}, "over the limit of 1000 (MIRA_MAX_FILE_BYTES)"),
        ({"max_duration_s": 10}, "video is 20 s long, over the limit of 10 s (MIRA_MAX_DURATION_S)"),
        ({"max_pixels": 100 * 50}, "resolution 160x96 is over the limit of 5000 pixels (MIRA_MAX_PIXELS)"),
        ({"decode_timeout_s": 1e-6}, "decode exceeded 1e-06 s (MIRA_DECODE_TIMEOUT_S)"),
    ],
)
def test_limits_protect_the_service(videos: Videos, limit: dict[str, float], expected: str) -> None:
    src = videos.get("long.mp4", seconds=20, fps=12, gop=24)
    assert expected in reason(src, **limit)
