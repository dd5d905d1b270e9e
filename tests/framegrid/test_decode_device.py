"""MIRA_DECODE_DEVICE: NVDEC where a GPU is present, CPU otherwise. This machine has no GPU, so `auto`
must fall back with exactly one log line (at INFO: a CPU machine is not a fault), `cuda` must refuse to start,
and `cpu` must stay silent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared.runtime.errors import Fatal
from shared.video.source import cuda_available, decode_device
from tests.framegrid.support import Videos, clip, shown_indices


@pytest.fixture(autouse=True)
def fresh_probe() -> Iterator[None]:
    """Each test sees a process that has not probed or logged yet."""
    cuda_available.cache_clear()
    decode_device.cache_clear()
    yield
    cuda_available.cache_clear()
    decode_device.cache_clear()


def fallback_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "CUDA" in r.getMessage()]


def test_auto_falls_back_to_cpu_with_one_log_line(videos: Videos, caplog: pytest.LogCaptureFixture) -> None:
    assert not cuda_available()  # the premise: no GPU on this machine
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    caplog.set_level(logging.INFO)
    grids = [render_grid(clip(path), FramegridSettings(decode_device="auto")) for _ in range(3)]
    assert [g.decode_device for g in grids] == ["cpu"] * 3
    assert fallback_lines(caplog) == ["no CUDA device available: decoding on CPU (MIRA_DECODE_DEVICE=auto)"]
    assert [r.levelname for r in caplog.records if "CUDA" in r.getMessage()] == ["INFO"]  # no GPU is no fault
    assert shown_indices(grids[0]) == sorted(shown_indices(grids[0]))


def test_cuda_without_a_gpu_stops_the_service(videos: Videos) -> None:
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    with pytest.raises(Fatal, match="MIRA_DECODE_DEVICE=cuda but no CUDA device"):
        render_grid(clip(path), FramegridSettings(decode_device="cuda"))


def test_cpu_decodes_without_probing_or_logging(videos: Videos, caplog: pytest.LogCaptureFixture) -> None:
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    caplog.set_level(logging.INFO)
    assert render_grid(clip(path), FramegridSettings(decode_device="cpu")).decode_device == "cpu"
    assert fallback_lines(caplog) == [] and cuda_available.cache_info().currsize == 0


def test_decode_workers_follow_a_containers_cpu_quota(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from shared.video.settings import usable_cpus

    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # a 1.5 CPU limit
    assert usable_cpus(cpu_max) == min(2, usable_cpus(tmp_path / "absent"))
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == usable_cpus(tmp_path / "absent") >= 1
