"""The review page's store queries, on SQLite and on the local PostgreSQL: keyset pages walk every clip's
newest version exactly once, filters apply to that newest version, free-text search takes `%` and `_`
literally and ignores case, and failures and usage add up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.messages import Captions
from shared.store import RecordStore
from shared.store.browse import GalleryFilter, failures, gallery_page, usage, versions
from tests.store.conftest import store, store_url  # noqa: F401 (fixtures: SQLite and PostgreSQL)
from tests.store.factories import result

CLIPS = 30


def caps(i: int, v: int) -> Captions:
    return Captions(dense_caption=f"Clip {i} version {v}: 100% Natural_Light", main_object_caption="fox",
                    background_caption="snow", camera_caption="static", style_caption="plain")


@pytest.fixture
def filled(store: RecordStore) -> RecordStore:  # noqa: F811
    """Clip i has i % 3 + 1 versions; the newest fails for i % 5 == 0, and version 1 of clip 1 failed."""
    for v in (1, 2, 3):
        for i in range(CLIPS):
            if v > i % 3 + 1:
                continue
            newest = v == i % 3 + 1
            status = "failed" if (newest and i % 5 == 0) or (i == 1 and v == 1) else "success"
            store.record(result(f"c{i:02d}", f"j{i}-{v}", status=status, model=f"m{v}", prompt_version=f"p{v}",
                                caps=caps(i, v)))
    return store


def walk(records: RecordStore, where: GalleryFilter, size: int) -> list[tuple[str, int]]:
    seen, after = [], None
    while True:
        page = gallery_page(records, where, after, size)
        seen += [(c.record.clip_id, c.record.version) for c in page.cards]
        if page.next_after is None:
            return seen
        after = page.next_after


def test_keyset_pages_show_every_clips_newest_version_once(filled: RecordStore) -> None:
    seen = walk(filled, GalleryFilter(), size=7)
    assert sorted(seen) == sorted((f"c{i:02d}", i % 3 + 1) for i in range(CLIPS))
    assert seen[0] == ("c29", 3)  # newest first: the last record written
    assert len(walk(filled, GalleryFilter(), size=CLIPS)) == CLIPS  # an exactly full page ends the walk


def test_filters_apply_to_the_newest_version(filled: RecordStore) -> None:
    def clips(**where: object) -> set[str]:
        return {c for c, _ in walk(filled, GalleryFilter(**where), size=5)}  # type: ignore[arg-type]

    assert clips(status="failed") == {f"c{i:02d}" for i in range(0, CLIPS, 5)}  # c01 failed only in v1
    assert "c01" in clips(status="success")
    assert clips(several_versions=True) == {f"c{i:02d}" for i in range(CLIPS) if i % 3}
    assert clips(model="m3") == clips(prompt_version="p3") == {f"c{i:02d}" for i in range(2, CLIPS, 3)}
    assert clips(model="m1") == {f"c{i:02d}" for i in range(0, CLIPS, 3)}
    succeeded = {f"c{i:02d}" for i in range(CLIPS) if i % 5}
    assert clips(text="natural_light") == clips(text="100%") == succeeded  # failed versions have no captions
    assert clips(text="100%_") == clips(text="0 natural") == set()  # % and _ are literal, not wildcards
    assert clips(text="version 2", status="success") == {f"c{i:02d}" for i in range(1, CLIPS, 3) if i % 5}
    assert versions(filled, "c02") == sorted(versions(filled, "c02"), key=lambda r: r.version)
    assert [r.version for r in versions(filled, "c02")] == [1, 2, 3]


def test_failures_and_usage_add_up(filled: RecordStore) -> None:
    groups = failures(filled, examples=2)
    assert [(g.status, g.reason, g.clips) for g in groups] == [("failed", "failed by the test", CLIPS // 5)]
    assert groups[0].examples == ["c20", "c05"]  # newest records first (their third versions)
    rows = usage(filled)
    totals = filled.totals()
    assert sum(u.versions for u in rows) == totals.versions
    assert abs(sum(u.cost_usd for u in rows) - totals.cost_usd) < 1e-9
    assert {(u.model, u.prompt_version, u.clips) for u in rows} == {("m1", "p1", 30), ("m2", "p2", 20),
                                                                    ("m3", "p3", 10)}


def test_a_database_from_before_the_review_gets_its_indexes(store_url: str) -> None:  # noqa: F811
    review_indexes = {"ix_caption_records_video", "ix_caption_records_status"}
    with RecordStore.open(store_url) as made, made.engine.begin() as conn:  # undo migration 5
        for name in review_indexes:
            conn.execute(sa.text(f"DROP INDEX {name}"))
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = 5"))
    with RecordStore.open(store_url) as reopened:
        names = {i["name"] for i in sa.inspect(reopened.engine).get_indexes("caption_records")}
    assert review_indexes <= names
