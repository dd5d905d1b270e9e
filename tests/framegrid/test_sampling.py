"""Which frames land in the grid: uniform over the clip's range, in time order, per sampling mode, on the
awkward streams real collections hold. Each cell's frame index is read from its pixels."""

from __future__ import annotations

import pytest

from tests.framegrid.support import Videos, index_at, render, shown_indices, targets

FPS = 12


@pytest.mark.parametrize(
    ("codec", "container"),
    [("h264", "mp4"), ("hevc", "mp4"), ("vp9", "webm"), ("av1", "mkv"), ("mpeg4", "mp4")],
)
def test_exact_mode_shows_the_frame_a_player_shows_at_each_uniform_target(
    videos: Videos, codec: str, container: str
) -> None:
    path = videos.get(f"plain-{codec}.{container}", codec=codec, seconds=4, fps=FPS, gop=12)
    grid = render(path, sample_mode="exact")
    expected = [index_at(t, 4, FPS) for t in targets(0, 4)]
    assert shown_indices(grid) == expected
    assert grid.frame_times_s == pytest.approx([i / FPS for i in expected], abs=1e-3)
    assert grid.sample_mode == "exact"
    assert grid.video.codec == codec and grid.video.duration_s == pytest.approx(4, abs=0.01)


def test_a_clip_inside_a_longer_video_samples_only_its_range(videos: Videos) -> None:
    path = videos.get("long.mp4", seconds=20, fps=FPS, gop=24)
    grid = render(path, start_s=7.0, end_s=11.0, sample_mode="exact")
    assert all(7.0 <= t < 11.0 for t in grid.frame_times_s)
    assert grid.frame_times_s == sorted(grid.frame_times_s)
    assert shown_indices(grid) == [index_at(t, 20, FPS) for t in targets(7, 11)]
    assert grid.video.duration_s == pytest.approx(4.0)


def test_keyframe_mode_takes_the_keyframe_at_or_before_each_target(videos: Videos) -> None:
    path = videos.get("long.mp4", seconds=20, fps=FPS, gop=24)  # a keyframe every 2 s
    grid = render(path, sample_mode="keyframe")
    keyframes = [2.0 * ((t + 1e-6) // 2.0) for t in targets(0, 20)]
    assert grid.frame_times_s == pytest.approx(keyframes)
    assert shown_indices(grid) == [round(k * FPS) for k in keyframes]


def test_keyframe_mode_never_takes_a_keyframe_from_before_the_clip(videos: Videos) -> None:
    path = videos.get("long.mp4", seconds=20, fps=FPS, gop=24)
    grid = render(path, start_s=5.0, end_s=5.8, sample_mode="keyframe")  # the keyframe before is at 4 s
    assert all(5.0 <= t < 5.8 for t in grid.frame_times_s)
    assert shown_indices(grid) == [round(t * FPS) for t in grid.frame_times_s]


def test_auto_mode_uses_near_keyframes_and_decodes_to_far_targets(videos: Videos) -> None:
    path = videos.get("long.mp4", seconds=20, fps=FPS, gop=24)
    grid = render(path, start_s=1.0, end_s=21.0, sample_mode="auto", keyframe_tolerance_s=1.0)
    for target, t, shown in zip(targets(1, 20), grid.frame_times_s, shown_indices(grid), strict=True):
        keyframe = 2.0 * ((target + 1e-6) // 2.0)
        if target - keyframe <= 1.0:
            assert t == pytest.approx(keyframe)
        else:
            assert t == pytest.approx(index_at(target, 20, FPS) / FPS, abs=1e-3)
        assert shown == round(t * FPS)
    assert grid.sample_mode == "auto"


def test_a_range_past_the_end_is_clamped_to_the_video(videos: Videos) -> None:
    path = videos.get("long.mp4", seconds=20, fps=FPS, gop=24)
    grid = render(path, start_s=16.0, end_s=40.0, sample_mode="exact")
    assert all(16.0 <= t < 20.0 for t in grid.frame_times_s)
    assert grid.video.duration_s == pytest.approx(4.0, abs=0.01)


def test_clips_shorter_than_eight_frames_repeat_frames_in_order(videos: Videos) -> None:
    path = videos.get("five-frames.mp4", seconds=5 / FPS, fps=FPS)
    grid = render(path, sample_mode="exact")
    shown = shown_indices(grid)
    assert shown == sorted(shown) and set(shown) == {0, 1, 2, 3, 4}
    assert len(grid.frame_times_s) == 8


def test_variable_frame_rate_times_map_to_the_right_frames(videos: Videos) -> None:
    path = videos.get("vfr.mp4", seconds=6, fps=FPS, vfr=True)  # second half at a third of the rate
    grid = render(path, sample_mode="exact")
    assert grid.video.duration_s == pytest.approx(6, abs=0.25)  # the last frame's length is the muxer's guess
    expected = [index_at(t, 6, FPS, vfr=True) for t in targets(0, grid.video.duration_s)]
    assert shown_indices(grid) == expected
    assert expected[-1] - expected[-2] < expected[1] - expected[0]  # fewer frames per second at the end


def test_webm_without_duration_or_cues_is_sampled_over_its_whole_length(videos: Videos) -> None:
    path = videos.get("live.webm", codec="vp9", seconds=4, fps=FPS, live=True)
    grid = render(path, sample_mode="exact")
    assert grid.video.duration_s == pytest.approx(4.0, abs=0.1)
    assert shown_indices(grid) == [index_at(t, 4, FPS) for t in targets(0, 4)]


@pytest.mark.parametrize("codec", ["hevc", "h264"])
def test_ten_bit_video_renders_readable_frames(videos: Videos, codec: str) -> None:
    path = videos.get(f"10bit-{codec}.mp4", codec=codec, seconds=2, fps=FPS, pix_fmt="yuv420p10le")
    grid = render(path, sample_mode="exact")
    assert shown_indices(grid) == [index_at(t, 2, FPS) for t in targets(0, 2)]
