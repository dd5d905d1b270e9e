"""`python -m tests.bench.store` (make bench-store): issue 25's "store at 10M records".

Starts a throwaway PostgreSQL server (tests/postgres_server.py), opens the store there (the real migrations
make the schema), and grows it in steps to each size of --sizes record versions by COPY of generated rows
(tests/bench/store_data.py: MiraData-length captions, version history, quality, text hashes, answer log).
After each step (and VACUUM ANALYZE, as autovacuum would) it times what grows with the store
(tests/bench/store_timings.py) and, at the end, prints every figure with its ratio against the smallest
size measured in the same run; the goal is every per-record figure within FLAT of it, and export at least
EXPORT_GOAL rows/s. Then EXPLAIN of the queries behind them on the largest store (a sequential scan of a
big table is named), and the size of every table and index (bench-out/store.json keeps all of it).
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.pool import AsyncResult
from typing import Any

import psycopg
import sqlalchemy as sa

from shared.store import RecordStore, answers, quality
from shared.store import engine as engines
from shared.store.schema import RECORD_COLUMNS, model_answers, records
from tests.bench import store_data as data
from tests.bench import store_timings as timings
from tests.postgres_server import PostgresServer

SIZES = (10_000, 100_000, 1_000_000, 3_000_000, 10_000_000)
FLAT, EXPORT_GOAL = 1.5, 50_000
# Not per-record figures (shown for reading, not judged): counts, and totals that must grow with the store.
UNJUDGED = ("(rows read)", "(rows)", "mira status (s)", "first row (s)", "RSS added")
_CLIPS_PER_CHUNK = 2000
_COMMIT_CLIPS = 400_000
WORKERS = 3
REBUILD_FROM = 500_000  # clips in one step from which dropping and rebuilding the indexes is faster
# Bulk load settings: checkpoints far apart, big sorts for index maintenance; queries keep the defaults.
_SERVER = ("-c max_wal_size=16GB -c checkpoint_timeout=30min -c maintenance_work_mem=512MB "
           "-c shared_buffers=1GB -c effective_cache_size=8GB")


def load(url: str, first: int, stop: int) -> float:
    """COPY clips first..stop-1 (records and answer log), the rows made by WORKERS processes (at most
    2 x WORKERS chunks ahead) while this one sends them; then VACUUM ANALYZE. A big step drops the plain
    indexes first and builds them again after (what a bulk load does; the unique ones stay). Seconds."""
    started = time.perf_counter()
    cols = ", ".join(RECORD_COLUMNS)
    spans = [(k, min(k + _CLIPS_PER_CHUNK, stop)) for k in range(first, stop, _CLIPS_PER_CHUNK)]
    rebuilt = [i for i in (*records.indexes, *model_answers.indexes) if stop - first >= REBUILD_FROM]
    engine = sa.create_engine(engines.parse_url(url))
    with engine.begin() as conn:
        for index in rebuilt:
            index.drop(conn)
    answer_columns = "answer_key, captions, created_at, grid_sha256, text_hash"
    per_commit = _COMMIT_CLIPS // _CLIPS_PER_CHUNK
    with psycopg.connect(url) as rec_conn, psycopg.connect(url) as ans_conn, \
            multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        for group in range(0, len(spans), per_commit):  # a commit every _COMMIT_CLIPS: progress survives
            with rec_conn.cursor().copy(f"COPY caption_records ({cols}) FROM STDIN") as rec_copy, \
                    ans_conn.cursor().copy(f"COPY model_answers ({answer_columns}) FROM STDIN") as ans_copy:
                pending: deque[AsyncResult[tuple[str, str]]] = deque()
                for span in spans[group:group + per_commit]:
                    pending.append(pool.apply_async(data.chunk, (span,)))
                    if len(pending) >= 2 * WORKERS:
                        recs, logged = pending.popleft().get()
                        rec_copy.write(recs)
                        ans_copy.write(logged)
                while pending:
                    recs, logged = pending.popleft().get()
                    rec_copy.write(recs)
                    ans_copy.write(logged)
            rec_conn.commit()
            ans_conn.commit()
    built = time.perf_counter()
    with engine.begin() as conn:
        for index in rebuilt:
            index.create(conn)
    if rebuilt:
        print(f"  built {len(rebuilt)} indexes in {time.perf_counter() - built:.0f} s", flush=True)
    engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE caption_records")
        conn.execute("VACUUM ANALYZE model_answers")
    return time.perf_counter() - started


class Capture:
    """The statements an engine runs while `under(label)` is open, for EXPLAIN afterwards."""

    def __init__(self, engine: sa.Engine) -> None:
        self.label: str | None = None
        self.seen: dict[str, list[tuple[str, Any]]] = {}
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if self.label and not many and statement.lstrip().upper().startswith("SELECT"):
            self.seen.setdefault(self.label, []).append((statement, params))

    @contextmanager
    def under(self, label: str) -> Iterator[None]:
        self.label = label
        try:
            yield
        finally:
            self.label = None


def explain(store: RecordStore, clips: int) -> dict[str, list[str]]:
    """One EXPLAIN per query of each operation on the largest store: its scans (Seq Scan, Index ...)."""
    from services.recaption.selection import selected
    from shared.qa.rules import RULES
    from shared.store import browse

    capture, c = Capture(store.engine), data.clip(clips // 2 - (clips // 2) % 10 + 4)
    with capture.under("pay-once"):
        answers.paid(store.engine, c.grid_sha256, c.hint, data.CURRENT_PROMPT, "gpt-4o")
        answers.paid(store.engine, "f" * 64, "none", data.CURRENT_PROMPT, "gpt-4o")
    with capture.under("duplicate rule"):
        quality.duplicate_of(store.engine, "0" * 32, "f" * 64)
    for name, request in timings.SELECTIONS.items():
        with capture.under(name):
            next(iter(selected(store, request)), None)
    with capture.under("export latest"):
        next(iter(store.iter_rows("latest")), None)
    with capture.under("mira status"):
        store.totals()
        quality.totals(store.engine, list(RULES))
    for name, where in (("review gallery", browse.GalleryFilter()),
                        ("review ?status=failed", browse.GalleryFilter(status="failed")),
                        ("review ?verdict=rejected", browse.GalleryFilter(verdict="rejected"))):
        with capture.under(name):
            browse.gallery_page(store, where)
    with capture.under("review clip page"):
        browse.versions(store, c.clip_id)
    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for label, statements in capture.seen.items():
            for statement, params in statements:
                plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, params)]
                scans = [line.strip().removeprefix("-> ").split("  (")[0] for line in plan
                         if "Scan" in line and "Subquery" not in line]
                out.setdefault(label, []).append("; ".join(dict.fromkeys(scans)))
    return out


def relation_sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY 2 DESC").fetchall()
    return {name: int(size) for name, size in rows}


def table(results: dict[int, dict[str, float]]) -> tuple[str, bool]:
    sizes = sorted(results)
    base, lines, ok = sizes[0], [], True
    lines.append(f"{'figure':<48}" + "".join(f"{f'{s:,}':>22}" for s in sizes))
    for name in results[base]:
        cells = []
        for s in sizes:
            value = results[s].get(name)
            if value is None:
                cells.append(f"{'-':>22}")
                continue
            ref = results[base][name]
            ratio = (ref / value if name.startswith("export jsonl") else value / ref) if ref and value else 1.0
            judged = not any(word in name for word in UNJUDGED)
            missed = judged and ratio > FLAT or (name.startswith("export jsonl") and value < EXPORT_GOAL)
            ok &= not missed
            shown = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
            cells.append(f"{shown + (f' ({ratio:.2f}x)' if judged else '') + ('!' if missed else ''):>22}")
        lines.append(f"{name:<48}" + "".join(cells))
    return "\n".join(lines), ok


def measure(store: RecordStore, url: str, clips: int, size: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for part in ("point_lookups", "selections", "export_child", "mira_status", "review_pages"):
        new = (timings.point_lookups(store, clips, size) if part == "point_lookups"
               else timings.selections(store) if part == "selections"
               else timings.export_child(url) if part == "export_child"
               else timings.mira_status(url, size) if part == "mira_status"
               else timings.review_pages(url, data.clip(10 * (clips // 20)).clip_id))
        figures.update(new)
        print("  " + ", ".join(f"{k} {v:.3g}" for k, v in new.items()), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="record versions per step")
    args = parser.parse_args()
    timings.OUT.mkdir(exist_ok=True)
    server = PostgresServer(options=_SERVER)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` stops the server
    results: dict[int, dict[str, float]] = {}
    report: dict[str, Any] = {"sizes": sorted(args.sizes), "results": results}
    try:
        url = server.start()
        print(f"PostgreSQL at {server.data} (port {server.port}); goal: per-record figures within {FLAT}x of "
              f"the {min(args.sizes):,}-version store, export >= {EXPORT_GOAL:,} rows/s", flush=True)
        with RecordStore.open(url) as store:
            clips = 0
            for size in sorted(args.sizes):
                target = data.clips_for(size)
                seconds = load(url, clips, target)
                clips = target
                print(f"\n{size:,}: loaded to {data.versions_before(clips):,} versions of {clips:,} clips "
                      f"(+{seconds:.0f} s with VACUUM ANALYZE)", flush=True)
                results[size] = measure(store, url, clips, size)
                report["relation_bytes"] = relation_sizes(url)
                (timings.OUT / "store.json").write_text(json.dumps(report, indent=2))
                print(table(results)[0], flush=True)
            text, ok = table(results)
            print(f"\nper size (x: cost against the {min(args.sizes):,}-version store in this run; for rows/s its "
                  f"inverse; ! marks a missed goal)\n{text}", flush=True)
            report["explain"] = explain(store, clips)
        print(f"\nEXPLAIN at {max(args.sizes):,} versions (scans of each query):")
        for label, plans in report["explain"].items():
            for plan in plans:
                print(f"  {label:<34}{plan}")
        report["relation_bytes"] = relation_sizes(url)
        print(f"\nrelations at {max(args.sizes):,} versions (pg_total_relation_size, MiB):")
        for name, size in report["relation_bytes"].items():
            print(f"  {name:<40}{size / 2**20:>12,.1f}")
        (timings.OUT / "store.json").write_text(json.dumps(report, indent=2))
    finally:
        server.remove()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
