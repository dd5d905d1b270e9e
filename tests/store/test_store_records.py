"""Recording and reading caption records: versions, idempotency, lookups, selectors, totals."""

from __future__ import annotations

import time

from shared.messages import CaptionRecord, utcnow
from shared.store import RecordStore, answers, claims
from shared.store.schema import RECORD_COLUMNS
from tests.store.factories import captions, result


def test_versions_count_up_per_clip_and_records_are_kept(store: RecordStore) -> None:
    made = [store.record(result("a", f"a-{i}", prompt_version=f"p{i}"))[0] for i in range(3)]
    other, created = store.record(result("b", "b-0"))
    assert [r.version for r in made] == [1, 2, 3] and other.version == 1 and created
    every = list(store.iter_records("all"))
    assert [(r.clip_id, r.version, r.prompt_version) for r in every] == [
        ("a", 1, "p0"),
        ("a", 2, "p1"),
        ("a", 3, "p2"),
        ("b", 1, "p1"),
    ]


def test_redelivered_job_returns_its_record_and_adds_no_version(store: RecordStore) -> None:
    first, created = store.record(result("a", "job-1"))
    store.record(result("a", "job-2"))
    again, created_again = store.record(result("a", "job-1", prompt_version="changed"))
    assert created and not created_again
    assert again == first  # the stored version, not the redelivered content
    assert [r.version for r in store.iter_records("all")] == [1, 2]


def test_record_round_trips_every_field(store: RecordStore) -> None:
    before = utcnow()
    written, _ = store.record(result("a", "job-1"))
    read = store.latest("a")
    assert set(CaptionRecord.model_fields) == set(RECORD_COLUMNS)
    assert read == written
    assert read.created_at.tzinfo is not None and before <= read.created_at <= utcnow()
    assert read.frame_times_s == [2.5 + i * 1.25 for i in range(8)]
    assert (read.short_caption, read.hint_source, read.dense_caption) == (
        "a fox in the snow",
        "manifest",
        captions().dense_caption,
    )
    assert (read.input_tokens, read.image_tokens, read.output_tokens, read.cost_usd) == (
        2000,
        1445,
        450,
        0.0095,
    )


def test_failed_result_is_recorded_without_captions_and_open_end_uses_decoded_duration(
    store: RecordStore,
) -> None:
    rec, _ = store.record(result("a", "job-1", status="refused", end_s=None, hint=None))
    assert rec.status == "refused" and rec.reason == "refused by the test"
    assert rec.dense_caption is None and rec.style_caption is None and rec.short_caption is None
    assert (rec.start_s, rec.end_s) == (2.5, 12.5)  # start + the 10 s the decoder covered
    assert store.latest("a") == rec and store.latest("missing") is None


def test_find_success_matches_grid_hint_prompt_and_model_exactly(store: RecordStore) -> None:
    grid = "cd" * 32
    store.record(result("a", "j1", grid_sha256=grid, hint=None))
    newest, _ = store.record(result("a", "j2", grid_sha256=grid, hint=None))
    store.record(result("a", "j3", grid_sha256=grid, hint=None, status="truncated"))
    store.record(result("b", "j4", grid_sha256=grid, hint="a hint"))
    assert store.find_success(grid, None, "p1", "gpt-4o") == newest  # None hint matches None
    assert store.find_success(grid, "a hint", "p1", "gpt-4o").job_id == "j4"
    assert store.find_success(grid, "another hint", "p1", "gpt-4o") is None
    assert store.find_success(grid, None, "p2", "gpt-4o") is None
    assert store.find_success(grid, None, "p1", "gpt-4o-mini") is None
    assert store.find_success("ef" * 32, None, "p1", "gpt-4o") is None


def test_selectors_look_at_each_clips_newest_version(store: RecordStore) -> None:
    store.record(result("a", "a1", prompt_version="p1"))
    store.record(result("a", "a2", prompt_version="p2"))  # a is now on p2
    store.record(result("b", "b1", prompt_version="p1", model="gpt-4o-mini"))
    store.record(result("c", "c1", prompt_version="p1", status="failed"))
    time.sleep(0.01)
    cutoff = utcnow()
    time.sleep(0.01)
    store.record(result("d", "d1", prompt_version="p1", status="truncated"))

    def chosen(**selectors: object) -> list[tuple[str, int]]:
        return [(r.clip_id, r.version) for r in store.select(**selectors)]

    assert chosen() == [("a", 2), ("b", 1), ("c", 1), ("d", 1)]
    assert chosen(clip_ids=["a", "c", "zz"]) == [("a", 2), ("c", 1)]
    assert chosen(prompt_version_not="p2") == [("b", 1), ("c", 1), ("d", 1)]
    assert chosen(prompt_version_not="p1") == [("a", 2)]
    assert chosen(model_is="gpt-4o-mini") == [("b", 1)]
    assert chosen(status_in=["failed", "truncated"]) == [("c", 1), ("d", 1)]
    assert chosen(created_before=cutoff) == [("a", 2), ("b", 1), ("c", 1)]
    assert chosen(prompt_version_not="p2", status_in=["success"], clip_ids=["a", "b", "c"]) == [("b", 1)]


def test_selecting_tens_of_thousands_of_clip_ids(store: RecordStore) -> None:
    for clip in ("k00500", "k41000", "k69999"):
        store.record(result(clip, f"job-{clip}"))
    wanted = [f"k{i:05d}" for i in range(70_000)]  # more than either driver binds in one statement
    assert [r.clip_id for r in store.select(clip_ids=reversed(wanted))] == ["k00500", "k41000", "k69999"]


def test_iter_records_versions_and_filters(store: RecordStore) -> None:
    store.record(result("a", "a1", prompt_version="p1"))
    store.record(result("a", "a2", prompt_version="p2", status="failed"))
    store.record(result("b", "b1", prompt_version="p1", model="gpt-4o-mini"))

    def rows(*args: object, **filters: object) -> list[tuple[str, int]]:
        return [(r.clip_id, r.version) for r in store.iter_records(*args, **filters)]

    assert rows("latest") == [("a", 2), ("b", 1)]
    assert rows("all") == [("a", 1), ("a", 2), ("b", 1)]
    assert rows(1) == [("a", 1), ("b", 1)] and rows(2) == [("a", 2)] and rows(3) == []
    # A run pinned to prompt p1 keeps clip a's p1 version even though a newer one exists.
    assert rows("latest", prompt_version="p1") == [("a", 1), ("b", 1)]
    assert rows("latest", status="success") == [("a", 1), ("b", 1)]
    assert rows("all", model="gpt-4o-mini") == [("b", 1)]
    assert rows(2, status="success") == []


def test_totals_count_newest_status_and_all_spending(store: RecordStore) -> None:
    store.record(result("a", "a1"))
    store.record(result("a", "a2", status="failed"))
    store.record(result("b", "b1"))
    totals = store.totals()
    assert (totals.clips, totals.versions) == (2, 3)
    assert totals.latest_by_status == {"failed": 1, "success": 1}
    assert (totals.input_tokens, totals.image_tokens, totals.output_tokens) == (6000, 4335, 1350)
    assert abs(totals.cost_usd - 3 * 0.0095) < 1e-9


def test_paid_answers_come_from_records_or_from_the_answer_log(store: RecordStore) -> None:
    question = ("ef" * 32, "a fox", "p1", "gpt-4o")
    assert store.paid_answer(*question) is None
    store.remember_answer(*question, captions(7, tag="logged"))
    store.remember_answer(*question, captions(3, tag="later"))  # the first answer stays
    assert store.paid_answer(*question) == captions(7, tag="logged")
    assert store.paid_answer("ef" * 32, None, "p1", "gpt-4o") is None  # another hint is another question
    store.record(result("clip", "job", grid_sha256="12" * 32, hint=None, caps=captions(4, tag="rec")))
    assert store.paid_answer("12" * 32, None, "p1", "gpt-4o") == captions(4, tag="rec")


def test_logging_an_answer_gives_up_the_claim_on_its_question_in_the_same_trip(store: RecordStore) -> None:
    question = ("ab" * 32, "a fox", "p1", "gpt-4o")
    key = answers.answer_key(*question)
    assert claims.take(store.engine, key, "replica-1", lease_s=60)
    store.remember_answer(*question, captions(7, tag="paid"), releasing="replica-1")
    assert claims.holder(store.engine, key) is None and store.paid_answer(*question) == captions(7, tag="paid")
    # Logged already (a redelivery answered twice): the first answer stays and the claim is still given up.
    assert claims.take(store.engine, key, "replica-2", lease_s=60)
    store.remember_answer(*question, captions(3, tag="again"), releasing="replica-2")
    assert claims.holder(store.engine, key) is None and store.paid_answer(*question) == captions(7, tag="paid")
    # Only the named owner's claim goes: one taken over by another replica stays with it.
    assert claims.take(store.engine, key, "replica-3", lease_s=60)
    store.remember_answer(*question, captions(3, tag="late"), releasing="replica-1")
    assert claims.holder(store.engine, key) is not None
