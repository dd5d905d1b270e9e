"""`mira export`: every format read back with MiraData's and our columns, versions and filters, no half
files, and memory that does not grow with the number of rows."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from cli import export as export_cli
from shared.messages import CaptionRecord
from shared.store import RecordStore
from shared.store.export import COLUMNS, FORMATS, export
from shared.store.schema import records
from tests.store.factories import MARKED_MODEL, result


def read_back(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows as a reader of that format sees them (CSV lists decoded from their JSON)."""
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return list(rows[0]) if rows else [], rows
    if fmt == "csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = [
                {
                    k: json.loads(v) if k in ("timestamp", "framestamp", "frame_times_s") else v
                    for k, v in r.items()
                }
                for r in reader
            ]
            return list(reader.fieldnames or []), rows
    table = pq.read_table(path)
    return table.column_names, table.to_pylist()


def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, *argv: str) -> list[tuple[str, int]]:
    monkeypatch.setenv("MIRA_DATABASE_URL", url)
    parser = argparse.ArgumentParser()
    export_cli.add_parser(parser.add_subparsers())
    out = tmp_path / "exports" / "out.jsonl"  # a folder that does not exist yet
    assert export_cli.run(parser.parse_args(["export", "--format", "jsonl", "-o", str(out), *argv])) == 0
    return [(r["clip_id"], r["version"]) for r in read_back(out, "jsonl")[1]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_has_miradata_and_our_columns(store: RecordStore, tmp_path: Path, fmt: str) -> None:
    store.record(result("a", "a1"))
    store.record(result("a", "a2", status="failed", prompt_version="p2"))
    store.record(result("b", "b1", hint=None))
    out = tmp_path / f"records.{fmt}"
    assert export(store.iter_records("latest"), fmt, out) == 2  # type: ignore[arg-type]

    columns, rows = read_back(out, fmt)
    assert columns == list(COLUMNS)
    assert {"clip_id", "video_id", "timestamp", "seconds", "frame_number", "framestamp"} <= set(columns)
    a, b = rows
    assert (a["clip_id"], str(a["version"]), a["status"], a["prompt_version"]) == ("a", "2", "failed", "p2")
    assert a["timestamp"] == ["00:00:02.500", "00:00:12.500"]  # MiraData's HH:MM:SS.mmm pair
    assert float(a["seconds"]) == 10.0 and int(a["frame_number"]) == 250 and a["framestamp"] == [62, 312]
    assert a["frame_times_s"] == [2.5 + i * 1.25 for i in range(8)]
    assert a["dense_caption"] in (None, "")  # CSV has no null: an empty field
    assert b["short_caption"] in (None, "") and b["dense_caption"].startswith("dense0 dense1")
    assert str(b["created_at"])[:4] == str(store.latest("b").created_at.year)


def test_cli_versions_and_filters(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordStore.open(store_url) as store:
        store.record(result("a", "a1", prompt_version="p1"))
        store.record(result("a", "a2", prompt_version="p2", status="truncated"))
        store.record(result("b", "b1", prompt_version="p1", model="gpt-4o-mini"))

    def exported(*argv: str) -> list[tuple[str, int]]:
        return run_cli(tmp_path, monkeypatch, store_url, *argv)

    assert exported() == [("a", 2), ("b", 1)]
    assert exported("--version", "all") == [("a", 1), ("a", 2), ("b", 1)]
    assert exported("--version", "1") == [("a", 1), ("b", 1)]
    assert exported("--prompt-version", "p1") == [("a", 1), ("b", 1)]
    assert exported("--model", "gpt-4o-mini") == [("b", 1)]
    assert exported("--status", "truncated", "--version", "all") == [("a", 2)]


def test_cli_says_plainly_when_the_store_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRA_DATABASE_URL", "postgresql://mira:s3cret@127.0.0.1:1/mira")
    with pytest.raises(SystemExit) as exited:
        export_cli.open_store()
    message = str(exited.value.code)
    assert message.startswith(
        "mira: cannot reach the record store at postgresql+psycopg://mira:***@127.0.0.1:1/mira"
    )
    assert "s3cret" not in message


@pytest.mark.parametrize("bad", ["0", "-1", "newest"])
def test_cli_rejects_a_bad_version(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    export_cli.add_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "--format", "csv", "-o", "x.csv", "--version", bad])
    assert "expected latest, all or a version number" in capsys.readouterr().err


def test_an_export_that_fails_leaves_no_file(store: RecordStore, tmp_path: Path) -> None:
    store.record(result("a", "a1"))
    (tmp_path / "exports").mkdir()
    out = tmp_path / "exports" / "records.parquet"

    def broken() -> Iterator[CaptionRecord]:
        yield from store.iter_records()
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        export(broken(), "parquet", out)
    assert list(out.parent.iterdir()) == []  # neither the file nor its .partial


def _child(*argv: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.store.export_child", *argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout else {}


def test_export_memory_does_not_grow_with_rows(store_url: str, tmp_path: Path) -> None:
    """30,000 rows take no more memory than 10,000 (tests/bench/export.py shows 1,000,000 against 10,000)."""
    _child("seed", store_url, "30000", "3")  # every third record has MARKED_MODEL: 10,020 of them
    for fmt in ("jsonl", "parquet"):
        few = _child("export", store_url, fmt, str(tmp_path / f"few.{fmt}"), MARKED_MODEL)
        many = _child("export", store_url, fmt, str(tmp_path / f"many.{fmt}"))
        assert (few["rows"], many["rows"]) == (10020, 30000)
        growth_few = few["peak_after_mib"] - few["peak_before_mib"]
        growth_many = many["peak_after_mib"] - many["peak_before_mib"]
        # Holding 20,000 more rows would cost over 30 MiB more (client-side cursor) or 100 MiB (records).
        assert growth_many < growth_few + 20, (fmt, growth_few, growth_many)


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_rows_export_exactly_what_records_do(store: RecordStore, tmp_path: Path, fmt: str) -> None:
    """`mira export` streams RecordStore.iter_rows (no model per row, issue 25's 50K rows/s): byte for byte
    the file that the records give, credentials kept out of sources and reasons alike."""
    store.record(result("a", "a1"))
    store.record(result("a", "a2", status="failed", prompt_version="p2"))
    secret = result("b", "b1", hint=None)
    leaky = secret.clip.model_copy(update={"source_uri": "https://user:hunter2@cdn.example.com/b.mp4?token=x1"})
    store.record(secret.model_copy(update={"clip": leaky}))
    store.record(result("c", "c1", status="failed"))
    with store.engine.begin() as conn:  # a source and reason stored before redaction existed
        conn.execute(sa.update(records).where(records.c.clip_id == "c")
                     .values(source_uri="s3://k:hunter2@bucket/c.mp4", reason="401 for key sk-proj-abcdefghijklmnop12345678"))
    for version in ("latest", "all", 1):
        by_model, by_row = tmp_path / f"m.{fmt}", tmp_path / f"r.{fmt}"
        assert export(store.iter_records(version), fmt, by_model) == export(store.iter_rows(version), fmt, by_row)
        assert by_model.read_bytes() == by_row.read_bytes()
        assert b"hunter2" not in by_row.read_bytes() and b"abcdefghijklmnop" not in by_row.read_bytes()
