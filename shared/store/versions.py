"""Writing caption results as record versions, many per transaction.

The sink records whatever arrived together in one transaction (a lock per clip, one look-up of the job ids
already recorded, one of each clip's newest version, one multi-row insert) instead of one transaction with
three statements per result: per-result transactions were most of the sink's CPU. Versions stay "max + 1"
per clip without gaps or duplicates: writers of the same clip serialise on its lock (SQLite: the database's
write lock), and job ids stay idempotent, also for two deliveries of one job in the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import CaptionRecord, CaptionResult, utcnow
from shared.store import engine as engines
from shared.store.convert import to_record
from shared.store.schema import RECORD_COLUMNS, records

ATTEMPTS = 5
_RECORDED = sa.select(*(records.c[name] for name in RECORD_COLUMNS)).where(
    records.c.job_id.in_(sa.bindparam("job_ids", expanding=True)))
_NEWEST = (sa.select(records.c.clip_id, sa.func.max(records.c.version))
           .where(records.c.clip_id.in_(sa.bindparam("clip_ids", expanding=True)))
           .group_by(records.c.clip_id))
_INSERT = sa.insert(records)


def record_all(engine: Engine, results: Sequence[CaptionResult]) -> list[tuple[CaptionRecord, bool]]:
    """Each result as its clip's next version, in order, in one transaction: (record, True), or (the record
    its job id already has, False). Nothing is stored unless everything is."""
    if not results:
        return []
    for _ in range(ATTEMPTS):
        try:
            return _record_once(engine, results)
        except sa.exc.IntegrityError:
            continue  # a writer outside our locks took a version or a job id: look again
    raise RuntimeError(f"could not record {len(results)} results (first job {results[0].job_id}) after "
                       f"{ATTEMPTS} conflicting attempts")


def _record_once(engine: Engine, results: Sequence[CaptionResult]) -> list[tuple[CaptionRecord, bool]]:
    clip_ids = sorted({r.clip.clip_id for r in results})
    with engines.write_transaction(engine, lock_key=clip_ids) as conn:
        done = {row.job_id: CaptionRecord.model_validate(row._asdict())
                for row in conn.execute(_RECORDED, {"job_ids": sorted({r.job_id for r in results})})}
        newest = {clip_id: int(version) for clip_id, version in conn.execute(_NEWEST, {"clip_ids": clip_ids})}
        now, out, new = utcnow(), [], []
        for result in results:
            if (known := done.get(result.job_id)) is not None:
                out.append((known, False))
                continue
            version = newest.get(result.clip.clip_id, 0) + 1
            newest[result.clip.clip_id] = version
            record = done[result.job_id] = to_record(result, version, now)
            out.append((record, True))
            new.append(record.model_dump())
        if new:
            conn.execute(_INSERT, new)
        return out
