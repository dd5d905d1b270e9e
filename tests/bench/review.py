"""`python -m tests.bench.review` (make bench-review): issue 12's "a million records open as fast as ten".

Seeds stores of 10, 10,000 and 1,000,000 one-version records with the store benchmark's data
(tests/store/factories.seed: 1 in 100 by a marked model), serves the real review app on each, and times
gallery pages over HTTP: the first page, a page deep in the middle (keyset: `after` a row half-way down),
the marked model's filter, and two filters that match nothing (the worst case for a page that must find
`limit` matching rows: without an index it reads every row). Prints the median of REPEAT rounds per page
(each round visits every store, so load elsewhere touches all sizes alike); the target is that every page
at 1,000,000 records takes at most FLAT_FACTOR times its time at 10,000 plus FLAT_SLACK_MS (the 10-record
store renders fewer cards, so it is shown for reference). Runs on SQLite, and on the local
PostgreSQL when it is reachable. Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from review.app import make_app
from review.settings import ReviewSettings
from shared.settings import Settings
from shared.store import RecordStore
from shared.store.schema import records
from tests.store.databases import temporary_database
from tests.store.factories import MARKED_MODEL, seed

OUT = Path("bench-out")
SIZES = (10, 10_000, 1_000_000)
REPEAT = 20
FLAT_FACTOR, FLAT_SLACK_MS = 2.0, 15.0
EMPTY = ("/?status=failed", "/?video_id=none-such")  # the seeded records have no failures, one video


def pages_of(url: str) -> dict[str, str]:
    with RecordStore.open(url) as store, store.engine.connect() as conn:
        middle = (conn.scalar(sa.select(sa.func.max(records.c.id))) or 0) // 2 + 1
    return {"first page": "/", "middle page": f"/?after={middle}", "model filter": f"/?model={MARKED_MODEL}",
            "failed (none)": EMPTY[0], "other video": EMPTY[1]}


async def time_pages(urls: dict[int, str], blob_url: str) -> dict[int, dict[str, float]]:
    """Median milliseconds per page and store size over REPEAT rounds (after a warm-up round). Each round
    requests every page of every store in turn, so a burst of load elsewhere touches all sizes alike."""
    clients = {}
    for size, url in urls.items():
        app = make_app(Settings(database_url=url, blob_url=blob_url), ReviewSettings(), "127.0.0.1")
        clients[size] = TestClient(TestServer(app))
        await clients[size].start_server()
    pages = {size: pages_of(url) for size, url in urls.items()}
    times: dict[tuple[int, str], list[float]] = {}
    try:
        for _ in range(REPEAT + 1):
            for size, client in clients.items():
                for name, path in pages[size].items():
                    start = time.perf_counter()
                    reply = await client.get(path)
                    body = await reply.text()
                    times.setdefault((size, name), []).append((time.perf_counter() - start) * 1000)
                    assert reply.status == 200 and ('class="card' in body) == (path not in EMPTY), path
    finally:
        for client in clients.values():
            await client.close()
    return {size: {name: statistics.median(times[size, name][1:]) for name in pages[size]} for size in urls}


def bench(backend: str, urls: dict[int, str], blob_url: str) -> bool:
    for size, url in urls.items():
        print(f"{backend}: seeding {size:,} records ...", flush=True)
        with RecordStore.open(url) as store:
            seed(store, size)
    results = asyncio.run(time_pages(urls, blob_url))
    print(f"\n{backend}: median ms per gallery page ({REPEAT} rounds)")
    print(f"{'page':<14}" + "".join(f"{f'{s:,} rec':>14}" for s in SIZES) + "   result")
    ok = True
    for name in results[SIZES[0]]:
        big, mid = results[SIZES[-1]][name], results[SIZES[1]][name]
        passed = big <= FLAT_FACTOR * mid + FLAT_SLACK_MS
        ok &= passed
        print(f"{name:<14}" + "".join(f"{results[s][name]:>14.1f}" for s in SIZES)
              + f"   {'ok' if passed else 'MISSED'}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    blob_url = (OUT / "review-blobs").resolve().as_uri()
    print(f"target: each page at {SIZES[-1]:,} records within {FLAT_FACTOR:g}x its time at {SIZES[1]:,} "
          f"+ {FLAT_SLACK_MS:g} ms")
    ok = True
    if "sqlite" in args.backends:
        files = {size: OUT / f"review-bench-{size}.db" for size in SIZES}
        for leftover in OUT.glob("review-bench-*.db*"):
            leftover.unlink()
        try:
            ok &= bench("sqlite", {s: f"sqlite:///{p.resolve()}" for s, p in files.items()}, blob_url)
        finally:
            for leftover in OUT.glob("review-bench-*.db*"):
                leftover.unlink()
    if "postgresql" in args.backends:
        with ExitStack() as stack:
            try:
                urls = {size: stack.enter_context(temporary_database()) for size in SIZES}
            except psycopg.OperationalError as exc:
                print(f"\npostgresql: skipped, server not reachable: {exc}")
            else:
                ok &= bench("postgresql", urls, blob_url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
