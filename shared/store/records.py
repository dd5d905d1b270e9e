"""RecordStore: immutable, versioned caption records (the sink writes them, everything else reads them).

A record is never updated. `record()` gives each new result the clip's next version (1, 2, 3, ... with no
gap or duplicate, also when several sinks write at once) and is idempotent on the job id, so a redelivered
result returns the version it already produced. Reads stream: a million rows cost constant memory.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import NamedFromClause as Alias

from shared.messages import CaptionRecord, CaptionResult, Captions, CaptionStatus, Quality, Verdict
from shared.redact import public_uri, redact
from shared.store import answers, migrations, quality, versions
from shared.store import engine as engines
from shared.store.schema import RECORD_COLUMNS, records

Version = Literal["latest", "all"] | int


class ExportFilters(TypedDict, total=False):
    """What an export can be narrowed to (`mira export`'s options)."""

    prompt_version: str | None
    model: str | None
    status: CaptionStatus | None
    quality_is: Quality | None

Filter = Callable[[Alias], list[ColumnElement[bool]]]

_STREAM_BATCH = 2000
_IDS_PER_QUERY = 1000
LOCKED_RETRY_S = 0.2  # a start-up race between replicas clears within milliseconds


@dataclass(frozen=True)
class Totals:
    """What `mira status` shows: the dataset as it stands now, and what it has cost so far."""

    clips: int
    versions: int
    latest_by_status: dict[str, int]  # status of each clip's newest version
    input_tokens: int  # tokens and cost over every version: all of it was paid for
    image_tokens: int
    output_tokens: int
    cost_usd: float


class RecordStore:
    """Thread-safe (one pooled connection per call); open it once per process with `RecordStore.open`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> RecordStore:
        """Connects and applies any pending schema migrations. Raises ValueError for a URL Mira cannot use,
        StoreError when the database cannot be reached or is newer than this Mira."""
        engine = engines.create(url)
        deadline = time.monotonic() + engines.SQLITE_BUSY_TIMEOUT_S
        while True:
            try:
                migrations.apply(engine)
                return cls(engine)
            except sa.exc.OperationalError as exc:
                # Replicas opening one new SQLite file at once can meet "database is locked" outside the busy
                # handler's reach (seen with two caption replicas starting together): try again for a while.
                if "database is locked" in str(exc.orig) and time.monotonic() < deadline:
                    time.sleep(LOCKED_RETRY_S)
                    continue
                engine.dispose()
                raise engines.StoreError(
                    f"cannot reach the record store at {engines.shown(engine.url)}: {exc.orig}"
                ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record(self, result: CaptionResult) -> tuple[CaptionRecord, bool]:
        """Store `result` as the clip's next version; (record, True), or (the existing record, False) when
        this job id was recorded before."""
        return versions.record_all(self.engine, [result])[0]

    def record_all(self, results: Sequence[CaptionResult]) -> list[tuple[CaptionRecord, bool]]:
        """`record` for several results in one transaction (shared.store.versions)."""
        return versions.record_all(self.engine, results)

    def find_success(
        self, grid_sha256: str, short_caption: str | None, prompt_version: str, model: str
    ) -> CaptionRecord | None:
        """The newest successful record of this grid, hint, prompt and model (a None hint matches None)."""
        stmt = (
            _select(records)
            .where(
                records.c.grid_sha256 == grid_sha256,
                records.c.short_caption.is_not_distinct_from(short_caption),
                records.c.prompt_version == prompt_version,
                records.c.model == model,
                records.c.status == "success",
            )
            .order_by(records.c.created_at.desc(), records.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return _first(conn, stmt)

    def paid_answer(self, grid_sha256: str, hint: str | None, prompt_version: str, model: str,
                    repair: bool = False) -> Captions | None:
        """Captions already paid for with this exact grid, hint, prompt and model: from a successful record,
        or from the answer log when the result never reached a record (a crash before the sink). A repair's
        answer only from the log."""
        return answers.paid(self.engine, grid_sha256, hint, prompt_version, model, repair)

    def remember_answer(self, grid_sha256: str, hint: str | None, prompt_version: str, model: str,
                        captions: Captions, releasing: str | None = None, repair: bool = False) -> None:
        """Log a paid answer (and release `releasing`'s claim on its question with it)."""
        answers.remember(self.engine, answers.answer_key(grid_sha256, hint, prompt_version, model, repair),
                         captions, releasing, grid_sha256)

    def latest(self, clip_id: str) -> CaptionRecord | None:
        stmt = (
            _select(records).where(records.c.clip_id == clip_id).order_by(records.c.version.desc()).limit(1)
        )
        with self.engine.connect() as conn:
            return _first(conn, stmt)

    def select(
        self,
        *,
        clip_ids: Iterable[str] = (),
        prompt_version_not: str | None = None,
        model_is: str | None = None,
        status_in: Iterable[CaptionStatus] = (),
        created_before: datetime | None = None,
        quality_is: Quality | None = None,
        rule: str | None = None,
        verdict: Verdict | None = None,
    ) -> Iterator[CaptionRecord]:
        """Recaption selectors: the newest version of every clip whose newest version matches them all
        (no selector selects every clip). Streamed in clip id order."""
        r = records.alias("r")
        conds: list[ColumnElement[bool]] = quality.conditions(r, quality_is, rule, verdict)
        if prompt_version_not is not None:
            conds.append(r.c.prompt_version != prompt_version_not)
        if model_is is not None:
            conds.append(r.c.model == model_is)
        if status_in := list(status_in):
            conds.append(r.c.status.in_(status_in))
        if created_before is not None:
            conds.append(r.c.created_at < created_before)
        stmt = _select(r).where(_is_newest(r), *conds).order_by(r.c.clip_id)
        if not (ids := sorted(set(clip_ids))):
            return self._stream(stmt)
        # Sorted slices keep clip id order and stay under the drivers' bind-parameter limits (~32k, 65k).
        slices = (ids[i : i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY))
        return itertools.chain.from_iterable(self._stream(stmt.where(r.c.clip_id.in_(s))) for s in slices)

    def iter_records(self, version: Version = "latest", **filters: Unpack[ExportFilters]) -> Iterator[CaptionRecord]:
        """Records for export, in (clip id, version) order. Filters apply first: with "latest", each clip's
        newest version among those that match (so a run pinned to a prompt version keeps its records)."""
        return self._stream(_export_select(version, **filters))

    def iter_rows(self, version: Version = "latest", **filters: Unpack[ExportFilters]) -> Iterator[dict[str, Any]]:
        """`iter_records` as plain dicts, what each record's model_dump() gives (its source and reason in
        their public forms), without building a model per row (most of an export's CPU at millions of rows),
        and in the order they were stored: a table scan that streams at any size, where (clip id, version)
        order costs a sort of the whole table, or a random read per row, before tens of millions of rows
        can go out (tests/bench/store.py)."""
        stmt = _export_select(version, stored_order=True, **filters)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=_STREAM_BATCH).execute(stmt):
                out: dict[str, Any] = dict(zip(RECORD_COLUMNS, row, strict=True))
                out["source_uri"] = public_uri(out["source_uri"])
                if out["reason"] is not None:
                    out["reason"] = redact(out["reason"])
                yield out

    def totals(self) -> Totals:
        r = records.alias("r")
        with self.engine.connect() as conn:
            newest = sa.select(r.c.status, sa.func.count()).where(_is_newest(r)).group_by(r.c.status)
            by_status = {status: count for status, count in conn.execute(newest)}
            versions, inp, img, out, cost = conn.execute(
                sa.select(
                    sa.func.count(),
                    *(
                        sa.func.coalesce(sa.func.sum(c), 0)
                        for c in (r.c.input_tokens, r.c.image_tokens, r.c.output_tokens)
                    ),
                    sa.func.coalesce(sa.func.sum(r.c.cost_usd), 0.0),
                )
            ).one()
        return Totals(sum(by_status.values()), versions, by_status, int(inp), int(img), int(out), float(cost))

    def shared_captions(self, column: str, limit: int = 5) -> tuple[int, list[tuple[str, int]]]:
        """Texts of `column` that the newest versions of several different clips share: how many such texts,
        and the `limit` shared by the most clips, with their clip counts."""
        r = records.alias("r")
        text, clips = r.c[column], sa.func.count(sa.distinct(r.c.clip_id))
        shared = (
            sa.select(text.label("text"), clips.label("clips"))
            .where(_is_newest(r), text.is_not(None))
            .group_by(text)
            .having(clips > 1)
            .subquery()
        )
        with self.engine.connect() as conn:
            count = conn.scalar(sa.select(sa.func.count()).select_from(shared)) or 0
            top = conn.execute(sa.select(shared).order_by(shared.c.clips.desc(), shared.c.text).limit(limit))
            return count, [(t, n) for t, n in top]

    def _stream(self, stmt: Select[tuple[object, ...]]) -> Iterator[CaptionRecord]:
        # yield_per streams: a server-side cursor on PostgreSQL, batched fetches on SQLite.
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=_STREAM_BATCH).execute(stmt):
                yield _to_model(row)


def _export_select(version: Version, prompt_version: str | None = None, model: str | None = None,
                   status: CaptionStatus | None = None, quality_is: Quality | None = None,
                   stored_order: bool = False) -> Select[tuple[object, ...]]:
    def matching(t: Alias) -> list[ColumnElement[bool]]:
        conds = [] if prompt_version is None else [t.c.prompt_version == prompt_version]
        conds += [] if model is None else [t.c.model == model]
        conds += quality.conditions(t, quality_is)
        return conds + ([] if status is None else [t.c.status == status])

    r = records.alias("r")
    order = (r.c.id,) if stored_order else (r.c.clip_id, r.c.version)
    stmt = _select(r).where(*matching(r)).order_by(*order)
    if version == "latest":
        stmt = stmt.where(_is_newest(r, matching))
    elif version != "all":
        stmt = stmt.where(r.c.version == version)
    return stmt


def _select(table: sa.Table | Alias) -> Select[tuple[object, ...]]:
    return sa.select(*(table.c[name] for name in RECORD_COLUMNS))


def _is_newest(r: Alias, matching: Filter | None = None) -> ColumnElement[bool]:
    """True for the row of `r` that is its clip's highest version (among the rows `matching` accepts)."""
    newer = records.alias("newer")
    extra = matching(newer) if matching else []
    return ~sa.exists().where(newer.c.clip_id == r.c.clip_id, newer.c.version > r.c.version, *extra)


def _first(conn: Connection, stmt: Select[tuple[object, ...]]) -> CaptionRecord | None:
    row = conn.execute(stmt).first()
    return None if row is None else _to_model(row)


def _to_model(row: sa.Row[tuple[object, ...]]) -> CaptionRecord:
    """A row selected by _select (columns in RECORD_COLUMNS order) as a record."""
    return CaptionRecord.model_validate(dict(zip(RECORD_COLUMNS, row, strict=True)))
