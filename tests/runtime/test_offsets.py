"""The commit rule: out-of-order completion never commits past an unfinished offset."""

from __future__ import annotations

import random

from shared.runtime.offsets import OffsetTracker, PartitionOffsets


def test_commit_waits_for_the_lowest_unfinished_offset() -> None:
    part = PartitionOffsets()
    for offset in (10, 11, 12):
        part.started(offset)
    part.finished(12)
    part.finished(11)
    assert part.committable() == 10  # 10 still running: commit "everything before 10"
    part.finished(10)
    assert part.committable() == 13


def test_nothing_to_commit_until_something_finishes_and_no_repeat_commits() -> None:
    part = PartitionOffsets()
    part.started(0)
    assert part.committable() is None
    part.finished(0)
    assert part.committable() == 1
    part.committed(1)
    assert part.committable() is None


def test_random_completion_orders_never_commit_an_unfinished_offset() -> None:
    rng = random.Random(7)
    for _ in range(200):
        tracker = OffsetTracker()
        offsets = list(range(rng.randint(1, 30)))
        gen = {o: tracker.started("p0", o) for o in offsets}
        order = offsets[:]
        rng.shuffle(order)
        done: set[int] = set()
        for o in order:
            tracker.finished("p0", o, gen[o])
            done.add(o)
            commit = tracker.committable().get("p0")
            if commit is not None:
                assert all(x in done for x in range(commit)), (commit, done)
                tracker.committed({"p0": commit})
        assert tracker.committable().get("p0", len(offsets)) == len(offsets)


def test_revoked_partitions_are_forgotten() -> None:
    tracker = OffsetTracker()
    gen_a = tracker.started("a", 0)
    gen_b = tracker.started("b", 0)
    tracker.started("b", 1)
    tracker.finished("a", 0, gen_a)
    tracker.finished("b", 0, gen_b)
    tracker.forget({"b"})
    assert tracker.committable() == {"a": 1}
    assert not tracker.finished("b", 1, gen_b)  # a late finish for a revoked partition is ignored
    assert "b" not in tracker.committable()


def test_late_finishes_from_before_a_revoke_never_move_the_new_owners_commit() -> None:
    """Offsets 10-17 in flight, revoke, reassign, refetch 10; then the old 17 and the old 10 finish.
    Committing 18 would lose 11-16 (still running) on a crash: nothing may be committable yet."""
    tracker = OffsetTracker()
    old = {o: tracker.started("p", o) for o in range(10, 18)}
    tracker.forget({"p"})  # revoked, then assigned again
    new = {o: tracker.started("p", o) for o in range(10, 18)}  # refetched from the last commit
    tracker.finished("p", 17, old[17])
    tracker.finished("p", 10, old[10])
    assert tracker.committable() == {}
    tracker.finished("p", 10, new[10])
    assert tracker.committable() == {"p": 11}  # only the new generation's own progress counts
