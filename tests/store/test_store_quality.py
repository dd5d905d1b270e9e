"""Quality columns in the store, on SQLite and PostgreSQL: a store from before the checks migrates with its
records unchecked (null) until `recheck`, the duplicate rule's look-up is an indexed probe of records and of
the answer log, and the selectors by quality, rule and verdict pick the newest versions they name."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from cli.localmodel.corpus import BOILERPLATE, clean
from shared.messages import Captions, QualityReason
from shared.qa.recheck import recheck
from shared.qa.rules import text_hash
from shared.qa.settings import QualitySettings
from shared.store import RecordStore, quality
from shared.store import engine as engines
from shared.store.first_release import records as old_records
from shared.store.versions import record_all
from tests.store.factories import migrate_to, result


def _good(i: int, dense: str | None = None) -> Captions:
    answer, _ = clean(i)
    return answer if dense is None else answer.model_copy(update={"dense_caption": dense})


def _store_before_quality(url: str) -> None:
    """A database as the Mira before this one left it: migrations 1-5, one record written then."""
    engine = engines.create(url)
    with engines.write_transaction(engine, lock_key="schema_migrations") as conn:
        migrate_to(conn, 5)
        conn.execute(sa.insert(old_records).values(
            clip_id="old", video_id="v", source_uri="file:///old.mp4", start_s=0, end_s=5, fps=25, width=640,
            height=360, duration_s=5, short_caption=None, **_good(1).model_dump(exclude={"short_caption"}),
            version=1, status="success", reason=None, model="gpt-4o", prompt_version="p0", hint_source="none",
            frame_times_s=[0.5] * 8, grid_uri="file:///g.jpg", grid_sha256="aa" * 32, input_tokens=1,
            image_tokens=1, output_tokens=1, cost_usd=0.01, created_at=datetime.now(UTC), job_id="job-old",
            request_id="r0"))
    engine.dispose()


def test_a_store_from_before_the_checks_migrates_and_its_records_stay_unchecked_until_rechecked(
    store_url: str
) -> None:
    _store_before_quality(store_url)
    with RecordStore.open(store_url) as store:
        [old] = store.iter_records("all")
        assert (old.quality, old.quality_reasons, old.text_hash, old.verdict) == (None, None, None, None)
        assert quality.totals(store.engine, ["medium"]).by_quality == {"unchecked": 1}
        done = recheck(store, QualitySettings())
        [old] = store.iter_records("all")
    assert (done.checked, done.changed) == (1, 1)
    assert old.quality == "ok" and old.quality_reasons == [] and old.text_hash == text_hash(old.dense_caption or "")
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("caption_records")}
    assert {"ix_caption_records_text_hash", "ix_caption_records_quality"} <= indexes


def test_the_duplicate_look_up_finds_another_grid_in_records_and_in_the_answer_log(store: RecordStore) -> None:
    store.record(result("a", "job-a", caps=_good(1, BOILERPLATE), grid_sha256="aa" * 32))
    found = text_hash(BOILERPLATE)
    assert quality.duplicate_of(store.engine, found, "bb" * 32) == "clip a"
    assert quality.duplicate_of(store.engine, found, "aa" * 32) is None  # the same grid: a recaption, fine
    logged = _good(2, "A different text entirely, logged but not recorded yet.")
    store.remember_answer("cc" * 32, None, "p1", "gpt-4o", logged)
    assert quality.duplicate_of(store.engine, text_hash(logged.dense_caption), "dd" * 32) == (
        f"the answer for grid {'cc' * 6}")
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            stmt = quality._IN_RECORDS.compile(store.engine, compile_kwargs={"literal_binds": False})
            plan = " ".join(str(r) for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {stmt}", (found, "bb" * 32, 1, 0)))
        assert "ix_caption_records_text_hash" in plan


def test_recheck_flags_both_clips_sharing_a_caption_and_what_the_rules_catch(store: RecordStore) -> None:
    store.record(result("a", "job-a", caps=_good(1, BOILERPLATE), grid_sha256="aa" * 32))
    store.record(result("b", "job-b", caps=_good(2, BOILERPLATE), grid_sha256="bb" * 32))
    framed = _good(3).model_copy(update={"camera_caption": "Across the eight frames, " + _good(3).camera_caption})
    store.record(result("c", "job-c", caps=framed, grid_sha256="cc" * 32))
    store.record(result("d", "job-d", caps=_good(4), grid_sha256="dd" * 32))
    done = recheck(store, QualitySettings())
    by_clip = {r.clip_id: r for r in store.iter_records()}
    assert done.by_rule == {"duplicate": 2, "medium": 1} and done.by_quality == {"suspect": 3, "ok": 1}
    assert [q.rule for q in by_clip["a"].quality_reasons or []] == ["duplicate"]
    assert [(q.rule, q.field) for q in by_clip["c"].quality_reasons or []] == [("medium", "camera_caption")]
    assert by_clip["d"].quality == "ok"
    assert [r.clip_id for r in store.select(rule="duplicate")] == ["a", "b"]
    assert [r.clip_id for r in store.select(quality_is="ok")] == ["d"]
    assert [r.clip_id for r in store.iter_records(quality_is="suspect")] == ["a", "b", "c"]
    totals = quality.totals(store.engine, ["duplicate", "medium", "refusal"])
    assert totals.by_quality == {"suspect": 3, "ok": 1} and totals.by_rule == {"duplicate": 2, "medium": 1}


def test_verdicts_are_kept_with_their_version_and_select_clips(store: RecordStore) -> None:
    first = result("a", "job-1", caps=_good(1))
    reasons = [QualityReason(rule="markup", field="style_caption", detail='markdown: "**"')]
    recorded = record_all(store.engine, [first.model_copy(update={"quality": "suspect", "quality_reasons": reasons,
                                                                  "repair": "kept_first",
                                                                  "repair_reasons": reasons})])
    assert recorded[0][0].repair == "kept_first"
    store.record(result("b", "job-2", caps=_good(2)))
    assert quality.set_verdict(store.engine, "a", 1, "rejected", "ana")
    assert not quality.set_verdict(store.engine, "a", 7, "rejected", "ana")
    [a] = store.select(verdict="rejected")
    assert (a.clip_id, a.verdict, a.verdict_by) == ("a", "rejected", "ana") and a.verdict_at is not None
    assert a.quality_reasons == reasons and a.repair_reasons == reasons
    assert [r.clip_id for r in store.select(rule="markup")] == ["a"]
    assert quality.totals(store.engine, ["markup"]).repairs == {"kept_first": 1}
    quality.set_verdict(store.engine, "a", 1, None, "ana")
    assert list(store.select(verdict="rejected")) == []
