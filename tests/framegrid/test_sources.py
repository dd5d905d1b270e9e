"""Where videos come from: local paths, file:// URIs, http(s) read by range requests (never downloaded
whole) and s3:// through the blob layer. The test servers listen on loopback, which a source URL reaches
only when MIRA_ALLOWED_SOURCES names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.runtime.errors import BadInput
from shared.video.source import SourceError
from tests.framegrid.support import Videos, index_at, render, shown_indices, targets
from tests.media.httpserver import serve_directory


def test_file_uri_source(videos: Videos) -> None:
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    grid = render(path.as_uri(), sample_mode="exact")
    assert shown_indices(grid) == [index_at(t, 4, 12) for t in targets(0, 4)]


def test_http_source_is_read_by_range_requests_not_downloaded(videos: Videos) -> None:
    # 60 s with a keyframe every 5 s, detailed enough that the file is several MB.
    path = videos.get(
        "remote.mp4", seconds=60, fps=6, width=480, height=270, gop=30, textured=True, options={"crf": "10"}
    )
    size = path.stat().st_size
    with serve_directory(path.parent) as (base, served):
        grid = render(f"{base}/{path.name}", start_s=10.0, end_s=50.0, sample_mode="keyframe", allowed_sources=base)
    assert grid.frame_times_s == [10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0]
    assert shown_indices(grid) == [round(t * 6) for t in grid.frame_times_s]
    assert any("bytes=" in r and "bytes=0-" not in r for r in served.requests)  # seeks became range requests
    assert served.bytes_sent < size / 2, f"read {served.bytes_sent} of {size} bytes"


def test_http_not_found_is_bad_input(tmp_path: Path) -> None:
    with serve_directory(tmp_path) as (base, _), pytest.raises(BadInput) as caught:
        render(f"{base}/missing.mp4?token=secret123", allowed_sources=base)
    assert "source refused by its server" in caught.value.reason
    assert "secret123" not in caught.value.reason  # query strings carry credentials


def test_server_errors_are_retryable_and_never_leak_the_query(videos: Videos) -> None:
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    with serve_directory(path.parent) as (base, served), pytest.raises(SourceError) as caught:
        served.fail_with = 503
        render(f"{base}/{path.name}?X-Amz-Signature=secret123", http_timeout_s=2, allowed_sources=base)
    assert f"reading {base}/{path.name} failed" in str(caught.value) and "secret123" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_s3_source_through_the_blob_layer(videos: Videos, s3: Any) -> None:
    path = videos.get("plain-h264.mp4", codec="h264", seconds=4, fps=12, gop=12)
    s3.put_object(Bucket="videos", Key="cams/plain.mp4", Body=path.read_bytes())
    grid = render("s3://videos/cams/plain.mp4", sample_mode="exact")
    assert shown_indices(grid) == [index_at(t, 4, 12) for t in targets(0, 4)]


def test_missing_s3_object_is_bad_input(s3: Any) -> None:
    with pytest.raises(BadInput) as caught:
        render("s3://videos/nope.mp4")
    assert "source refused by its server" in caught.value.reason and "Signature" not in caught.value.reason
