"""Read-only queries behind the review page: a gallery of each clip's newest version, paged by keyset on the
primary key so page 40,000 costs what page 1 does; one clip's versions; failures by reason; usage by model
and prompt version; and which stored grid a sha256 names.

The gallery walks the primary key downwards (newest rows first) and keeps rows that are their clip's newest
version, so a page reads about `limit` rows plus one index probe each, whatever the table's size. Filters
apply to that newest version ("status failed" lists clips whose latest attempt failed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import NamedFromClause

from shared.messages import GPT_PARTS, CaptionRecord, CaptionStatus, HintSource, Quality, Verdict
from shared.store import quality as qa
from shared.store.records import RecordStore, _is_newest, _select, _to_model
from shared.store.schema import RECORD_COLUMNS, records

_STREAM_BATCH = 2000
_CAPTION_COLUMNS = ("short_caption", *GPT_PARTS)


@dataclass(frozen=True)
class GalleryFilter:
    """What the gallery shows; every field narrows (AND). Empty strings mean "any"."""

    status: CaptionStatus | None = None
    model: str | None = None
    prompt_version: str | None = None
    hint_source: HintSource | None = None
    video_id: str | None = None
    text: str | None = None  # case-insensitive substring of any caption type
    several_versions: bool = False  # clips recaptioned at least once
    quality: Quality | None = None
    rule: str | None = None  # a quality rule among the reasons
    verdict: Verdict | None = None

    def conditions(self, r: NamedFromClause) -> list[ColumnElement[bool]]:
        exact = {
            "status": self.status, "model": self.model, "prompt_version": self.prompt_version,
            "hint_source": self.hint_source, "video_id": self.video_id,
        }
        conds: list[ColumnElement[bool]] = [r.c[name] == value for name, value in exact.items() if value]
        if self.text:
            conds.append(sa.or_(*(r.c[t].icontains(self.text, autoescape=True) for t in _CAPTION_COLUMNS)))
        if self.several_versions:
            conds.append(r.c.version > 1)
        return conds + qa.conditions(r, self.quality, self.rule, self.verdict)


@dataclass(frozen=True)
class Card:
    row_id: int  # the keyset cursor: the next page starts below the last card's row id
    record: CaptionRecord


@dataclass(frozen=True)
class Page:
    cards: list[Card]
    next_after: int | None  # row id to pass as `after` for the next page; None on the last page


@dataclass(frozen=True)
class FailureGroup:
    status: str
    reason: str
    clips: int
    examples: list[str]  # clip ids, newest first


@dataclass(frozen=True)
class Usage:
    model: str
    prompt_version: str
    versions: int
    clips: int
    input_tokens: int
    image_tokens: int
    output_tokens: int
    cost_usd: float


def gallery_page(store: RecordStore, where: GalleryFilter, after: int | None = None, limit: int = 24) -> Page:
    """Newest versions matching `where`, newest first, `limit` at most, below row id `after`."""
    r = records.alias("r")
    stmt = _select(r).add_columns(r.c.id).where(_is_newest(r), *where.conditions(r))
    if after is not None:
        stmt = stmt.where(r.c.id < after)
    stmt = stmt.order_by(r.c.id.desc()).limit(limit + 1)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    # The row id comes last; zip stops at the record's own columns.
    cards = [Card(row[-1], CaptionRecord.model_validate(dict(zip(RECORD_COLUMNS, row, strict=False))))
             for row in rows[:limit]]
    return Page(cards, cards[-1].row_id if len(rows) > limit else None)


def matching(store: RecordStore, where: GalleryFilter) -> Iterator[CaptionRecord]:
    """Every newest version matching `where` (streamed), for sending a whole filtered view back."""
    r = records.alias("r")
    stmt = _select(r).where(_is_newest(r), *where.conditions(r)).order_by(r.c.id.desc())
    with store.engine.connect() as conn:
        for row in conn.execution_options(yield_per=_STREAM_BATCH).execute(stmt):
            yield _to_model(row)


def versions(store: RecordStore, clip_id: str) -> list[CaptionRecord]:
    """Every version of one clip, oldest first."""
    stmt = _select(records).where(records.c.clip_id == clip_id).order_by(records.c.version)
    with store.engine.connect() as conn:
        return [_to_model(row) for row in conn.execute(stmt)]


def grid_uri(store: RecordStore, sha256: str) -> str | None:
    """The blob URI a record gives for the grid with this content hash (served by the review page)."""
    stmt = sa.select(records.c.grid_uri).where(records.c.grid_sha256 == sha256).limit(1)
    with store.engine.connect() as conn:
        return conn.scalar(stmt)


def failures(store: RecordStore, groups: int = 50, examples: int = 12) -> list[FailureGroup]:
    """Clips whose newest version did not succeed, grouped by status and reason, biggest group first."""
    r = records.alias("r")
    reason = sa.func.coalesce(r.c.reason, "")
    failed = [_is_newest(r), r.c.status != "success"]
    grouped = (
        sa.select(r.c.status, reason.label("reason"), sa.func.count().label("clips"))
        .where(*failed)
        .group_by(r.c.status, reason)
        .order_by(sa.desc("clips"), r.c.status, reason)
        .limit(groups)
    )
    out = []
    with store.engine.connect() as conn:
        for status, text, count in conn.execute(grouped).all():
            ids = sa.select(r.c.clip_id).where(*failed, r.c.status == status, reason == text)
            clip_ids = list(conn.scalars(ids.order_by(r.c.id.desc()).limit(examples)))
            out.append(FailureGroup(status, text, count, clip_ids))
    return out


def usage(store: RecordStore) -> list[Usage]:
    """Tokens and cost of every version (all of it was paid for), per model and prompt version."""
    r = records
    sums = [sa.func.coalesce(sa.func.sum(c), 0) for c in (r.c.input_tokens, r.c.image_tokens, r.c.output_tokens)]
    stmt = (
        sa.select(r.c.model, r.c.prompt_version, sa.func.count(), sa.func.count(sa.distinct(r.c.clip_id)),
                  *sums, sa.func.coalesce(sa.func.sum(r.c.cost_usd), 0.0))
        .group_by(r.c.model, r.c.prompt_version)
        .order_by(r.c.model, r.c.prompt_version)
    )
    with store.engine.connect() as conn:
        return [Usage(m, p, int(n), int(c), int(i), int(im), int(o), float(cost))
                for m, p, n, c, i, im, o, cost in conn.execute(stmt)]
