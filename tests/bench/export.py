"""`python -m tests.bench.export` (make bench-export): issue 5's "export streams in constant memory, shown
on 1,000,000 rows".

Seeds a store with 1,000,000 one-version records (1 in 100 made by a marked model, so a model filter
selects 10,000 of them), then exports each format twice, each time in a fresh process: the 10,000 marked
rows, and all 1,000,000. Prints rows/s and the peak RSS each export added to its process; the target is
that 1,000,000 rows add at most 32 MiB more than 10,000 (holding them would take gigabytes). Runs on
SQLite, and on the local PostgreSQL when it is reachable (its server-side cursor is what streams there).
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import psycopg

from shared.store.export import FORMATS
from tests.store.databases import temporary_database
from tests.store.factories import MARKED_MODEL

OUT = Path("bench-out")
MARGIN_MIB = 32


def child(*argv: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.store.export_child", *argv], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.stdout.strip() else {}


def bench(backend: str, url: str, rows: int, formats: list[str]) -> bool:
    print(f"\n{backend}: seeding {rows:,} rows ...", flush=True)
    child("seed", url, str(rows), "100")
    print(
        f"{'format':<8}{'rows':>11}{'seconds':>9}{'rows/s':>9}{'+MiB':>7}   {'rows':>7}{'+MiB':>7}   result"
    )
    ok = True
    for fmt in formats:
        out = OUT / f"export.{fmt}"
        few = child("export", url, fmt, str(out), MARKED_MODEL)
        many = child("export", url, fmt, str(out))
        out.unlink()
        growth_few = few["peak_after_mib"] - few["peak_before_mib"]
        growth_many = many["peak_after_mib"] - many["peak_before_mib"]
        passed = many["rows"] == rows and growth_many <= growth_few + MARGIN_MIB
        ok &= passed
        rate = many["rows"] / many["seconds"]
        print(
            f"{fmt:<8}{many['rows']:>11,}{many['seconds']:>9.1f}{rate:>9,.0f}{growth_many:>7.1f}"
            f"   {few['rows']:>7,}{growth_few:>7.1f}   {'ok' if passed else 'MISSED'}"
            f" (+{growth_many - growth_few:.1f} MiB for {many['rows'] / few['rows']:.0f}x the rows)",
            flush=True,
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument(
        "--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"target: exporting {args.rows:,} rows adds at most {MARGIN_MIB} MiB of peak RSS over 1% of them")
    ok = True
    if "sqlite" in args.backends:
        db = OUT / "export-bench.db"
        for leftover in OUT.glob("export-bench.db*"):
            leftover.unlink()
        ok &= bench("sqlite", f"sqlite:///{db.resolve()}", args.rows, args.formats)
        for leftover in OUT.glob("export-bench.db*"):
            leftover.unlink()
    if "postgresql" in args.backends:
        with ExitStack() as stack:
            try:
                url = stack.enter_context(temporary_database())
            except psycopg.OperationalError as exc:
                print(f"\npostgresql: skipped, server not reachable: {exc}")
            else:
                ok &= bench("postgresql", url, args.rows, args.formats)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
