"""Manifests as users have them: MiraData v1 meta, Panda-70M meta, plain JSONL; bad rows reported alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from services.ingest.manifest import RowError, read_manifest
from services.ingest.sources import expand_paths, to_job
from shared.messages import ClipSubmission


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_mira_v1_rows_become_one_clip_each_with_the_short_caption_as_hint(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    manifest = write_csv(tmp_path / "miradata_v1.csv", [
        {"clip_id": "abc_0", "source": "youtube", "video_url": "https://example.com/a.mp4", "video_id": "abc",
         "width": "1280", "height": "720", "fps": "30", "seconds": "5.0",
         "timestamp": "['00:00:01.500', '00:00:06.500']", "frame_number": "150", "framestamp": "[45, 195]",
         "file_path": "clips/a.mp4", "short_caption": "A dog runs on a beach."},
        {"clip_id": "abc_1", "source": "youtube", "video_url": "https://example.com/a.mp4", "video_id": "abc",
         "width": "1280", "height": "720", "fps": "30", "seconds": "4.0",
         "timestamp": "['00:01:00.000', '00:01:04.000']", "frame_number": "120", "framestamp": "[1800, 1920]",
         "file_path": "missing/b.mp4", "short_caption": ""},
    ])
    subs = list(read_manifest(manifest, "req"))
    assert all(isinstance(s, ClipSubmission) for s in subs)
    a, b = subs
    assert (a.clip_id, a.video_id, a.start_s, a.end_s) == ("abc_0", "abc", 1.5, 6.5)
    assert a.source == str(tmp_path / "clips" / "a.mp4")  # the local copy wins
    assert a.hint == "A dog runs on a beach."
    assert b.source == "https://example.com/a.mp4" and (b.start_s, b.end_s) == (60.0, 64.0)
    assert to_job(b).manifest_hint is None


def test_panda70m_rows_expand_to_one_clip_per_timestamp_with_its_caption(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "panda70m_testing.csv", [
        {"videoID": "--0K0r4HR8I", "url": "https://www.youtube.com/watch?v=--0K0r4HR8I",
         "timestamp": "[['0:00:00.000', '0:00:05.005'], ['0:00:05.005', '0:00:12.145']]",
         "caption": "['A man talks to the camera.', 'A car drives down a road.']",
         "matching_score": "[0.45, 0.41]"},
        {"videoID": "broken", "url": "https://www.youtube.com/watch?v=broken",
         "timestamp": "[['0:00:03.000', '0:00:01.000']]", "caption": "['backwards']", "matching_score": "[0.1]"},
    ])
    items = list(read_manifest(manifest, "req"))
    clips = [i for i in items if isinstance(i, ClipSubmission)]
    errors = [i for i in items if isinstance(i, RowError)]
    assert [(c.start_s, c.end_s, c.hint) for c in clips] == [
        (0.0, 5.005, "A man talks to the camera."), (5.005, 12.145, "A car drives down a road.")]
    assert [c.clip_id for c in clips] == ["--0K0r4HR8I.0", "--0K0r4HR8I.1"]
    assert len(errors) == 1 and errors[0].row == 3 and "not after start" in errors[0].reason


def test_jsonl_manifest_and_bad_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("\n".join([
        json.dumps({"source": "s3://bucket/v.mp4", "start_s": 2, "end_s": 4, "hint": "A cat."}),
        "{oops",
        json.dumps({"start_s": 1}),
    ]))
    items = list(read_manifest(manifest, "req"))
    assert isinstance(items[0], ClipSubmission) and items[0].source == "s3://bucket/v.mp4"
    assert isinstance(items[1], RowError) and "not JSON" in items[1].reason
    assert isinstance(items[2], RowError) and "no video location" in items[2].reason


def test_ids_are_deterministic_and_range_specific(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    a = to_job(ClipSubmission(source=str(video), start_s=1, end_s=2, request_id="r1"))
    again = to_job(ClipSubmission(source=video.as_uri(), start_s=1.0, end_s=2.0, request_id="r2"))
    other = to_job(ClipSubmission(source=str(video), start_s=2, end_s=3, request_id="r1"))
    assert (a.clip.clip_id, a.job_id) == (again.clip.clip_id, again.job_id)
    assert a.clip.clip_id != other.clip.clip_id
    assert a.clip.source_uri == video.as_uri()


def test_folders_expand_to_their_videos_only(tmp_path: Path) -> None:
    for name in ("b.mp4", "a.webm", "notes.txt", "sub/c.MKV"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    subs = list(expand_paths([str(tmp_path), "https://example.com/x.mp4"], "r"))
    assert [Path(s.source).name for s in subs] == ["a.webm", "b.mp4", "c.MKV", "x.mp4"]


def test_mira_v0_frame_ranges_and_json_array_manifests(tmp_path: Path) -> None:
    v0 = write_csv(tmp_path / "miradata_v0.csv", [
        {"index": "0", "video_id": "v", "start_frame": "60", "end_frame": "180", "fps": "30",
         "file_path": "v.mp4", "short_caption": "Waves roll in."},
    ])
    (clip,) = read_manifest(v0, "req")
    assert isinstance(clip, ClipSubmission) and (clip.start_s, clip.end_s) == (2.0, 6.0)
    assert clip.source == str(tmp_path / "v.mp4") and clip.hint == "Waves roll in."
    array = tmp_path / "clips.json"
    array.write_text(json.dumps([{"source": "a.mp4", "end_s": 3}, {"url": "https://x/b.mp4"}]))
    subs = list(read_manifest(array, "req"))
    assert [s.source for s in subs] == [str(tmp_path / "a.mp4"), "https://x/b.mp4"]  # type: ignore[union-attr]
