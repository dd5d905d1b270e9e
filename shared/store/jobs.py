"""What each first-submission job id stands for: the source, range and hint it was first submitted with.

Job ids derive from clip ids, and callers may name their clips; so the first submission of a job id claims
it here (one row, the primary key refusing a second on SQLite and PostgreSQL alike) and later submissions
are compared with it. Only a fingerprint is kept, never the source itself (it may have carried a token).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import utcnow
from shared.store.schema import job_identities

c = job_identities.c


def claim(engine: Engine, job_id: str, clip_id: str, fingerprint: str) -> str:
    """The fingerprint `job_id` stands for from now on: `fingerprint` when this is its first submission,
    otherwise the one it was first submitted with."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(job_identities).values(job_id=job_id, clip_id=clip_id,
                                                          fingerprint=fingerprint, created_at=utcnow()))
        return fingerprint
    except sa.exc.IntegrityError:
        pass  # submitted before (or by a replica at this very moment): the first one stands
    with engine.connect() as conn:
        first = conn.scalar(sa.select(c.fingerprint).where(c.job_id == job_id))
    return str(first)
