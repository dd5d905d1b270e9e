"""Streams caption records into a file a training job can read: JSON Lines, CSV or Parquet.

Columns are ours (design.md "Caption record") plus the MiraData v1 meta columns that follow from them
(`timestamp`, `seconds`, `frame_number`, `framestamp`), so loaders written for MiraData's meta files work.
Memory stays constant: rows go out as they are read, Parquet in row groups of `group_rows`. The file
appears under its name only when complete (written beside it, then renamed).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from shared.messages import CaptionRecord
from shared.store.cuts import Progress
from shared.store.schema import RECORD_COLUMNS

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
MIRADATA_COLUMNS = ("timestamp", "seconds", "frame_number", "framestamp")
# MiraData's derived columns sit beside the clip range they describe.
COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS[:5], *MIRADATA_COLUMNS, *RECORD_COLUMNS[5:])
_LISTS = ("timestamp", "framestamp", "frame_times_s", "quality_reasons", "repair_reasons")
_TIMES = ("created_at", "verdict_at")
_REASONS = pa.list_(pa.struct([("rule", pa.string()), ("field", pa.string()), ("detail", pa.string())]))

_FLOATS = ("start_s", "end_s", "seconds", "fps", "duration_s", "cost_usd")
_INTS = ("frame_number", "width", "height", "version", "input_tokens", "image_tokens", "output_tokens")
_ARROW_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(_FLOATS, pa.float64()),
    **dict.fromkeys(_INTS, pa.int64()),
    "timestamp": pa.list_(pa.string()),
    "framestamp": pa.list_(pa.int64()),
    "frame_times_s": pa.list_(pa.float64()),
    "created_at": pa.timestamp("us", tz="UTC"),
    "verdict_at": pa.timestamp("us", tz="UTC"),
    "quality_reasons": _REASONS,
    "repair_reasons": _REASONS,
}
_ARROW_CHUNK = 1024
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PARQUET_SCHEMA = pa.schema([(name, _ARROW_TYPES.get(name, pa.string())) for name in COLUMNS])


def hms(seconds: float) -> str:
    """MiraData's timestamp form, HH:MM:SS.mmm; rounded to the millisecond first (59.9996 s: 00:01:00.000)."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def export_row(record: CaptionRecord | dict[str, Any]) -> dict[str, Any]:
    """One output row: the record's fields plus the MiraData columns derived from its range and fps. A dict
    is a record's model_dump() (RecordStore.iter_rows) and becomes the row itself."""
    row = record.model_dump() if isinstance(record, CaptionRecord) else record
    start_s, end_s, fps = row["start_s"], row["end_s"], row["fps"]
    first, last = round(start_s * fps), round(end_s * fps)
    row.update(
        timestamp=[hms(start_s), hms(end_s)],
        seconds=row["duration_s"],
        frame_number=last - first,
        framestamp=[first, last],
        cost_usd=round(row["cost_usd"], 6),  # micro-dollars; float sums print as 0.00044204999999999993
    )
    return {name: row[name] for name in COLUMNS}


def export(records: Iterable[CaptionRecord] | Iterable[dict[str, Any]], fmt: Format, path: Path,
           group_rows: int = 8192) -> int:
    """Write `records` to `path` in `fmt`; returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = (export_row(r) for r in records)
    partial = path.with_name(path.name + ".partial")
    try:
        if fmt == "parquet":
            count = _write_parquet(rows, partial, group_rows)
        else:
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = (_write_jsonl if fmt == "jsonl" else _write_csv)(rows, out)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


CUT_COLUMNS = ("source_uri", "video_id", "duration_s", "complete", "scanned_to_s", "cuts")


def export_cuts(lists: Iterable[Progress], fmt: Format, path: Path) -> int:
    """Cut lists, one row per source: its boundaries as [{time_s, kind, start_s, end_s}, ...]."""
    rows = ({"source_uri": p.source_uri, "video_id": p.video_id, "duration_s": p.duration_s,
             "complete": p.complete, "scanned_to_s": p.scanned_to_s, "cuts": [c.model_dump() for c in p.cuts]}
            for p in lists)
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=CUT_COLUMNS) if fmt == "csv" else None
            if writer:
                writer.writeheader()
            for count, row in enumerate(rows, 1):
                if writer:
                    writer.writerow({k: _inert(json.dumps(v) if k == "cuts" else v) for k, v in row.items()})
                else:
                    out.write(json.dumps(row) + "\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for count, row in enumerate(rows, 1):
        row.update({name: _iso(row[name]) for name in _TIMES})
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return count


def _write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    for count, row in enumerate(rows, 1):
        row.update({name: json.dumps(row[name]) for name in _LISTS if row[name] is not None})
        row.update({name: _iso(row[name]) for name in _TIMES})
        writer.writerow({name: _inert(value) for name, value in row.items()})  # None: an empty field
    return count


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (OWASP CSV injection: a caption or source starting
    with =, +, -, @, tab or carriage return) gets a leading single quote; numbers are left alone."""
    return f"'{value}" if isinstance(value, str) and value[:1] in _FORMULA_STARTS else value


def _write_parquet(rows: Iterator[dict[str, Any]], path: Path, group_rows: int) -> int:
    """Rows become Arrow in chunks of _ARROW_CHUNK (Python objects cost ~5 KiB a row, Arrow ~1 KiB), and
    the chunks are written as row groups of `group_rows`, a size readers handle well."""
    count, pending = 0, []
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        while chunk := list(itertools.islice(rows, _ARROW_CHUNK)):
            pending.append(pa.RecordBatch.from_pylist(chunk, schema=PARQUET_SCHEMA))
            count += len(chunk)
            if len(pending) * _ARROW_CHUNK >= group_rows:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=group_rows)
                pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=group_rows)
    return count
