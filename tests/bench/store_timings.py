"""What the 10M-record store benchmark (tests/bench/store.py) times at each size, each through the store's
real code: writing a version, the caption stage's pay-once look-up and claim, the duplicate rule's look-up,
`mira export` (in a child process, for its peak RSS), the recaption selections, `mira status` and the review
page. Point look-ups are the median of REPEAT calls on random clips; streams are timed per row.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from cli import status
from review.app import make_app
from review.settings import ReviewSettings
from services.recaption.selection import selected
from shared.messages import RecaptionRequest
from shared.settings import Settings
from shared.store import RecordStore, answers, claims, quality
from tests.bench import store_data as data
from tests.store.factories import captions, result

REPEAT = 25
SELECT_CAP = 100_000  # rows read per selection (a selection streams: its cost per row is what it costs)
EXPORT_CAP = 300_000  # rows exported per size: the file is ~3 KB a row
OUT = Path("bench-out")
SELECTIONS = {
    "select --prompt-version-not": RecaptionRequest(request_id="b", prompt_version_not=data.CURRENT_PROMPT),
    "select --status failed": RecaptionRequest(request_id="b", status_in=["failed"]),
    "select --quality suspect": RecaptionRequest(request_id="b", quality="suspect"),
}
PAGES = {"review gallery": "/", "review gallery ?status=failed": "/?status=failed",
         "review gallery ?verdict=rejected": "/?verdict=rejected", "review clip page": "/clips/{clip}"}


def _median_ms(call: Callable[[int], object], keys: list[int]) -> float:
    times = []
    for key in keys:
        start = time.perf_counter()
        call(key)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _keys(rng: random.Random, clips: int, want: Callable[[data.Clip], bool]) -> list[int]:
    out: list[int] = []
    while len(out) < REPEAT:
        k = rng.randrange(clips)
        if want(data.clip(k)):
            out.append(k)
    return out


def _single_current_success(c: data.Clip) -> bool:
    return c.versions == 1 and c.k % 20 != 2 and c.newest_status == "success"


def point_lookups(store: RecordStore, clips: int, size: int) -> dict[str, float]:
    rng = random.Random(size)
    engine, hits = store.engine, _keys(rng, clips, _single_current_success)
    fresh = [uuid.uuid4().hex for _ in range(REPEAT)]
    out = {}
    out["write: a new clip's version 1 (ms)"] = _median_ms(
        lambda i: store.record(result(f"new-{size}-{fresh[i]}", f"job-{fresh[i]}", grid_sha256=fresh[i] * 2,
                                      caps=captions(80, tag=fresh[i]))), list(range(REPEAT)))
    out["write: an existing clip's next version (ms)"] = _median_ms(
        lambda k: store.record(result(data.clip(k).clip_id, f"job-{size}-{k}-next", caps=captions(80))), hits)

    def paid(k: int) -> None:
        c = data.clip(k)
        assert answers.paid(engine, c.grid_sha256, c.hint, data.CURRENT_PROMPT, "gpt-4o") is not None, k

    out["pay-once: answered question (ms)"] = _median_ms(paid, hits)
    out["pay-once: new question (ms)"] = _median_ms(
        lambda i: answers.paid(engine, fresh[i] * 2, "a hint", data.CURRENT_PROMPT, "gpt-4o"), list(range(REPEAT)))

    def cycle(i: int) -> None:  # what caption does around one paid call: claim, log the answer, release
        key = answers.answer_key(fresh[i] * 2, "cycle", data.CURRENT_PROMPT, "gpt-4o")
        assert claims.take(engine, key, "bench", 60.0) == "new"
        answers.remember(engine, key, captions(80, tag=fresh[i]), releasing="bench", grid_sha256=fresh[i] * 2)

    out["pay-once: claim, log answer, release (ms)"] = _median_ms(cycle, list(range(REPEAT)))

    def duplicate(k: int) -> None:
        assert quality.duplicate_of(engine, data.clip(k).text_hash, "another grid") is not None, k

    out["duplicate rule: caption seen (ms)"] = _median_ms(duplicate, hits)
    out["duplicate rule: new caption (ms)"] = _median_ms(
        lambda i: quality.duplicate_of(engine, fresh[i][:32], fresh[i] * 2), list(range(REPEAT)))
    return out


def selections(store: RecordStore) -> dict[str, float]:
    out = {}
    for name, request in SELECTIONS.items():
        start = time.perf_counter()
        rows = sum(1 for _ in itertools.islice(selected(store, request), SELECT_CAP))
        seconds = time.perf_counter() - start
        out[f"{name} (us/row)"] = seconds / max(rows, 1) * 1e6
        out[f"{name} (rows read)"] = rows
    return out


def mira_status(url: str, versions: int) -> dict[str, float]:
    start = time.perf_counter()
    totals = status._records(Settings(database_url=url))
    seconds = time.perf_counter() - start
    assert totals["versions"] >= versions, totals["versions"]
    return {"mira status (s)": seconds, "mira status (us/version)": seconds / totals["versions"] * 1e6}


def review_pages(url: str, clip_id: str) -> dict[str, float]:
    async def run() -> dict[str, float]:
        settings = Settings(database_url=url, blob_url=(OUT / "store-blobs").resolve().as_uri())
        client = TestClient(TestServer(make_app(settings, ReviewSettings(), "127.0.0.1")))
        await client.start_server()
        times: dict[str, list[float]] = {}
        try:
            for _ in range(REPEAT // 2 + 1):
                for name, path in PAGES.items():
                    start = time.perf_counter()
                    reply = await client.get(path.format(clip=clip_id))
                    await reply.text()
                    assert reply.status == 200, (path, reply.status)
                    times.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        finally:
            await client.close()
        return {f"{name} (ms)": statistics.median(t[1:]) for name, t in times.items()}

    return asyncio.run(run())


def export_child(url: str) -> dict[str, float]:
    """`mira export --format jsonl` (latest versions) through the real code, in a child process."""
    target = OUT / "store-export.jsonl"
    done = subprocess.run([sys.executable, "-m", "tests.bench.store_timings", url, str(target), str(EXPORT_CAP)],
                          check=True, capture_output=True, text=True)
    target.unlink(missing_ok=True)
    got = json.loads(done.stdout)
    return {"export jsonl (rows/s)": got["rows"] / got["seconds"],
            "export jsonl (rows per CPU-s of mira export)": got["rows"] / max(got.get("cpu_s", 0.0), 1e-9),
            "export: first row (s)": got["first_row_s"],
            "export: RSS added (MiB)": got["peak_after_mib"] - got["peak_before_mib"], "export (rows)": got["rows"]}


@contextmanager
def _timed_first(rows: Iterator[Any], stamp: dict[str, float]) -> Iterator[Iterator[Any]]:
    def marked() -> Iterator[Any]:
        for row in rows:
            stamp.setdefault("first", time.perf_counter())
            yield row

    yield marked()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _export_main(url: str, target: str, cap: int) -> None:
    from shared.store.export import export

    with RecordStore.open(url) as store:
        stamp: dict[str, float] = {}
        before, started, cpu = _peak_mib(), time.perf_counter(), _cpu_s()
        with _timed_first(itertools.islice(store.iter_rows("latest"), cap), stamp) as rows:
            count = export(rows, "jsonl", Path(target))
        seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    print(json.dumps({"rows": count, "seconds": seconds, "cpu_s": cpu, "first_row_s": stamp.get("first", started) - started,
                      "peak_before_mib": before, "peak_after_mib": _peak_mib()}))


if __name__ == "__main__":
    _export_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
