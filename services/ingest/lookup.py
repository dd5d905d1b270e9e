"""What the ingest API answers about a clip or a job, read from the record store: the job ids ingest claimed
(shared.store.jobs) and the record versions the sink wrote. Both are keyed by the same deterministic ids the
API hands out, so a client can ask about what it submitted without keeping any state of its own."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.ingest.apimodels import ClipState, JobState
from shared import ids
from shared.store.schema import job_identities, records

r, j = records.c, job_identities.c


def job_state(engine: Engine, job_id: str) -> JobState | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(r.clip_id, r.version, r.status, r.reason).where(r.job_id == job_id)).first()
        if row is not None:
            return JobState(job_id=job_id, clip_id=row.clip_id, status=row.status, stage="sink",
                            version=row.version, reason=row.reason)
        clip_id = conn.scalar(sa.select(j.clip_id).where(j.job_id == job_id))
    if clip_id is None:
        return None
    return JobState(job_id=job_id, clip_id=clip_id, status="in_progress", stage="ingest", version=None,
                    reason=None)


def clip_state(engine: Engine, clip_id: str) -> ClipState | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(r.job_id, r.version, r.status, r.reason).where(r.clip_id == clip_id)
                           .order_by(r.version.desc()).limit(1)).first()
        if row is not None:
            return ClipState(clip_id=clip_id, job_id=row.job_id, status=row.status, stage="sink",
                             latest_version=row.version, reason=row.reason)
        # A clip's first job id derives from its clip id: looked up by key, not by scanning for the clip.
        job_id = conn.scalar(sa.select(j.job_id).where(j.job_id == ids.first_job_id(clip_id)))
    if job_id is None:
        return None
    return ClipState(clip_id=clip_id, job_id=job_id, status="in_progress", stage="ingest", latest_version=None,
                     reason=None)
