"""Manifest files -> one clip submission per clip time range.

Understood layouts (CSV, JSONL or a JSON array, detected from the columns):
- MiraData v1 meta: clip_id, video_id, timestamp ["HH:MM:SS.mmm", "HH:MM:SS.mmm"], file_path and/or
  video_url, optional short_caption (used as the hint); v0 meta: start_frame, end_frame and fps instead.
- Panda-70M meta: one row per source video: videoID, url, timestamp and caption as Python-literal lists
  with one entry per clip.
- Plain: source (or path/url), optional start_s, end_s, hint, video_id, clip_id.
A bad row never stops the others: it is returned as a RowError with its line and reason.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.messages import ClipSubmission

csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str


def read_manifest(path: Path, request_id: str) -> Iterator[ClipSubmission | RowError]:
    where = "row" if path.suffix.lower() == ".json" else "line"  # CSV and JSONL rows are numbered by line
    for row_no, row in _rows(path):
        try:
            yield from _submissions(row, path.parent, request_id)
        except (ValueError, SyntaxError, TypeError) as exc:
            yield RowError(row_no, f"{path.name} {where} {row_no}: {exc}")
        except KeyError as exc:
            yield RowError(row_no, f"{path.name} {where} {row_no}: no {exc} column")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        if path.suffix.lower() == ".json":  # one JSON array of rows
            rows = json.load(f)
            if not isinstance(rows, list):
                raise ValueError(f"{path.name}: a .json manifest must hold a list of rows")
            yield from enumerate(rows, 1)
        elif path.suffix.lower() in {".jsonl", ".ndjson"}:
            for no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield no, json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield no, {"__error__": f"not JSON: {exc.msg}"}
        else:
            for no, row in enumerate(csv.DictReader(f), 2):  # line 1 is the header
                yield no, row


def _submissions(row: dict[str, Any], base: Path, request_id: str) -> Iterator[ClipSubmission]:
    if "__error__" in row:
        raise ValueError(row["__error__"])
    if "videoID" in row:  # Panda-70M: one row, many clips
        spans = _literal(row["timestamp"], "timestamp")
        hints = _literal(row.get("caption") or "[]", "caption") or [None] * len(spans)
        if len(hints) != len(spans):
            raise ValueError(f"{len(spans)} timestamps but {len(hints)} captions")
        for i, (span, hint) in enumerate(zip(spans, hints)):
            start, end = _range(span)
            yield ClipSubmission(source=_source(row, base), start_s=start, end_s=end, hint=hint,
                                 video_id=row["videoID"], clip_id=f"{row['videoID']}.{i}", request_id=request_id)
        return
    first, last = _span(row)
    yield ClipSubmission(
        source=_source(row, base), start_s=first, end_s=last,
        hint=row.get("short_caption") or row.get("hint") or None,
        video_id=row.get("video_id") or None, clip_id=row.get("clip_id") or None, request_id=request_id,
    )


def _span(row: dict[str, Any]) -> tuple[float | None, float | None]:
    """MiraData v1 timestamp, MiraData v0 start_frame/end_frame at fps, or plain start_s/end_s."""
    if row.get("timestamp"):
        return _range(_literal(row["timestamp"], "timestamp"))
    if row.get("start_frame") not in (None, "") and row.get("fps"):
        fps = float(row["fps"])
        return _range([float(row["start_frame"]) / fps, float(row["end_frame"]) / fps])
    return _float(row.get("start_s")), _float(row.get("end_s"))


def _source(row: dict[str, Any], base: Path) -> str:
    """Prefer a local copy (file_path, relative to the manifest) over the URL it came from."""
    url = str(row.get("video_url") or row.get("url") or "")
    for key in ("file_path", "path", "source"):
        value = str(row.get(key) or "")
        if not value:
            continue
        if "://" in value or Path(value).is_absolute():
            return value
        local = base / value
        return url if key == "file_path" and url and not local.exists() else str(local)
    if url:
        return url
    raise ValueError("no video location (file_path, path, source, video_url or url)")


def _literal(value: Any, column: str) -> Any:
    """A cell holding a Python literal, as Panda-70M writes lists: [['0:00:00.000', '0:00:05.000']]."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"column {column!r} is not a list with quoted items "
                         f"(like [['0:00:00.000', '0:00:05.000']]): {shown!r}") from None


def _range(span: Any) -> tuple[float, float]:
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        raise ValueError(f"timestamp must be [start, end], got {span!r}")
    start, end = (_seconds(t) for t in span)
    if end <= start:
        raise ValueError(f"timestamp end {span[1]} is not after start {span[0]}")
    return start, end


def _seconds(stamp: Any) -> float:
    """'H:MM:SS.mmm' (either digit count) or plain seconds."""
    if isinstance(stamp, (int, float)):
        return float(stamp)
    parts = str(stamp).strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"bad time {stamp!r}")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)
