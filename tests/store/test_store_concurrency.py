"""Two sink processes writing the same clips at once: versions stay 1..n with no gap or duplicate, and
a job both of them receive (a redelivery across replicas) is recorded exactly once."""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from multiprocessing.synchronize import Barrier

from shared.store import RecordStore
from tests.store.factories import result

CLIPS = ["c0", "c1", "c2", "c3"]


def _sink(url: str, jobs: range, start: Barrier, created: multiprocessing.Queue) -> None:
    with RecordStore.open(url) as store:
        start.wait(timeout=60)
        count = 0
        for i in jobs:
            for clip in CLIPS:
                count += store.record(result(clip, f"{clip}-job-{i:03d}"))[1]
        created.put(count)


def test_two_processes_write_gap_free_versions_and_each_job_once(store_url: str) -> None:
    RecordStore.open(store_url).close()  # migrate first, so both sinks start writing at the same moment
    ctx = multiprocessing.get_context("spawn")
    start, created = ctx.Barrier(2), ctx.Queue()
    # Jobs 15..29 go to both sinks, as when a partition moves to another replica mid-flight.
    sinks = [
        ctx.Process(target=_sink, args=(store_url, jobs, start, created))
        for jobs in (range(30), range(15, 45))
    ]
    for p in sinks:
        p.start()
    for p in sinks:
        p.join(timeout=120)
    assert [p.exitcode for p in sinks] == [0, 0]
    assert created.get(timeout=5) + created.get(timeout=5) == 45 * len(CLIPS)

    with RecordStore.open(store_url) as store:
        versions: dict[str, list[int]] = defaultdict(list)
        jobs: dict[str, set[str]] = defaultdict(set)
        for r in store.iter_records("all"):
            versions[r.clip_id].append(r.version)
            jobs[r.clip_id].add(r.job_id)
    for clip in CLIPS:
        assert versions[clip] == list(range(1, 46))
        assert jobs[clip] == {f"{clip}-job-{i:03d}" for i in range(45)}
