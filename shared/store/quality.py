"""Store queries of the quality checks: the duplicate rule's look-up (one probe of the text-hash index of
records and of the answer log), what `mira qa recheck` reads and writes, reviewers' verdicts, and the
selectors by quality, rule and verdict that export, recaption and the review page share.

Reasons are stored as JSON text; a rule is found in it as the text `"rule": "NAME"` (the JSON both backends
keep as written), so selecting by rule needs no JSON functions of either dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import NamedFromClause

from shared.messages import CaptionRecord, Quality, QualityReason, Verdict, utcnow
from shared.store.schema import RECORD_COLUMNS, model_answers, records

_STREAM_BATCH = 2000
_HASH, _GRID = sa.bindparam("text_hash", type_=sa.String()), sa.bindparam("grid", type_=sa.String())
_IN_RECORDS = (sa.select(records.c.clip_id)
               .where(records.c.text_hash == _HASH, records.c.grid_sha256 != _GRID).limit(1))
_IN_ANSWERS = (sa.select(model_answers.c.grid_sha256)
               .where(model_answers.c.text_hash == _HASH, model_answers.c.grid_sha256 != _GRID).limit(1))


def duplicate_of(engine: Engine, text_hash: str, grid_sha256: str) -> str | None:
    """Who else has this dense caption with another grid: "clip ID", or the grid of an answer paid for but
    not recorded yet; None when nobody has."""
    params = {"text_hash": text_hash, "grid": grid_sha256}
    with engine.connect() as conn:
        clip = conn.scalar(_IN_RECORDS, params)
        if clip is not None:
            return f"clip {clip}"
        grid = conn.scalar(_IN_ANSWERS, params)
    return None if grid is None else f"the answer for grid {grid[:12]}"


def conditions(r: NamedFromClause, quality: Quality | None = None, rule: str | None = None,
               verdict: Verdict | None = None) -> list[ColumnElement[bool]]:
    """Selectors on a records alias: quality, a rule among the reasons, a reviewer's verdict."""
    conds: list[ColumnElement[bool]] = []
    if quality is not None:
        conds.append(r.c.quality == quality)
    if rule is not None:
        conds.append(sa.cast(r.c.quality_reasons, sa.Text).contains(f'"rule": "{rule}"', autoescape=True))
    if verdict is not None:
        conds.append(r.c.verdict == verdict)
    return conds


@dataclass(frozen=True)
class Stored:
    row_id: int
    record: CaptionRecord


def stored(engine: Engine, latest_only: bool) -> Iterator[Stored]:
    """Every successful record (or each clip's newest version), in id order, for a recheck."""
    r = records.alias("r")
    stmt = sa.select(r.c.id, *(r.c[name] for name in RECORD_COLUMNS)).where(r.c.status == "success")
    if latest_only:
        newer = records.alias("newer")
        stmt = stmt.where(~sa.exists().where(newer.c.clip_id == r.c.clip_id, newer.c.version > r.c.version))
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=_STREAM_BATCH).execute(stmt.order_by(r.c.id)):
            yield Stored(row[0], CaptionRecord.model_validate(dict(zip(RECORD_COLUMNS, row[1:], strict=True))))


def grids_by_hash(engine: Engine, hashes: Sequence[str]) -> dict[str, set[str]]:
    """The grids of records and logged answers that have each of these dense-caption hashes."""
    out: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for table in (records, model_answers):
            stmt = (sa.select(table.c.text_hash, table.c.grid_sha256).distinct()
                    .where(table.c.text_hash.in_(sorted(set(hashes)))))
            for text_hash, grid in conn.execute(stmt):
                out.setdefault(text_hash, set()).add(grid)
    return out


def write(engine: Engine, updates: Sequence[tuple[int, Quality, list[QualityReason], str]]) -> None:
    """Set (quality, reasons, text hash) of records by row id, in one transaction."""
    if not updates:
        return
    stmt = (sa.update(records).where(records.c.id == sa.bindparam("row_id"))
            .values(quality=sa.bindparam("q"), quality_reasons=sa.bindparam("reasons", type_=sa.JSON()),
                    text_hash=sa.bindparam("hash")))
    rows = [{"row_id": i, "q": q, "reasons": [r.model_dump() for r in reasons], "hash": h}
            for i, q, reasons, h in updates]
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def set_verdict(engine: Engine, clip_id: str, version: int, verdict: Verdict | None, by: str) -> bool:
    """A reviewer's verdict on one version (None clears it); False when there is no such version."""
    stmt = (sa.update(records).where(records.c.clip_id == clip_id, records.c.version == version)
            .values(verdict=verdict, verdict_by=by if verdict else None, verdict_at=utcnow() if verdict else None))
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


@dataclass(frozen=True)
class QualityTotals:
    """Each clip's newest successful version: how many are ok, suspect or unchecked, suspects by rule, and how
    repairs ended (over every version: each repair was paid for)."""

    by_quality: dict[str, int]
    by_rule: dict[str, int]
    repairs: dict[str, int]


def totals(engine: Engine, rules: Sequence[str]) -> QualityTotals:
    r = records.alias("r")
    newer = records.alias("newer")
    newest = ~sa.exists().where(newer.c.clip_id == r.c.clip_id, newer.c.version > r.c.version)
    reasons = sa.cast(r.c.quality_reasons, sa.Text)
    per_rule = [sa.func.coalesce(sa.func.sum(sa.case((reasons.contains(f'"rule": "{name}"', autoescape=True), 1),
                                                     else_=0)), 0) for name in rules]
    with engine.connect() as conn:
        by_quality = {str(q or "unchecked"): int(n) for q, n in conn.execute(
            sa.select(r.c.quality, sa.func.count()).where(newest, r.c.status == "success").group_by(r.c.quality))}
        counts = conn.execute(sa.select(*per_rule).where(newest, r.c.quality == "suspect")).one() if rules else ()
        repairs = {str(o): int(n) for o, n in conn.execute(
            sa.select(r.c.repair, sa.func.count()).where(r.c.repair.is_not(None)).group_by(r.c.repair))}
    return QualityTotals(by_quality, {name: int(n) for name, n in zip(rules, counts, strict=True) if n}, repairs)
