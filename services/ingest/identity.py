"""Who a clip is: caller-supplied ids are checked, and a job id keeps what it was first submitted as.

The first job of a clip derives its id from the clip id, which callers may choose (manifests carry
MiraData clip_ids). Without a memory of what each job id stood for, a caller could submit a dataset's clip
id first with another source and an injected hint, and the genuine submission would then be dropped as a
duplicate. So the first submission claims its job id (shared.store.jobs); the same submission again is a
harmless redelivery, a different source, range or hint is refused: 409 from the API, a dead letter on the
other paths, never silently dropped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shared import ids
from shared.messages import ClipJob
from shared.redact import public_uri
from shared.runtime.errors import BadInput

if TYPE_CHECKING:  # `mira caption` checks and ids clips with this module before any database is opened
    from sqlalchemy.engine import Engine

ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_SHOWN = 40  # characters of a refused id quoted back in the reason


class Conflict(BadInput):
    """The job id is taken by a submission with another source, range or hint."""


def check_id(name: str, value: str | None) -> None:
    if value is not None and not ID_PATTERN.fullmatch(value):
        raise BadInput(f"{name} {value[:_SHOWN]!r} is not an id: use 1 to 128 of A-Z a-z 0-9 _ . -")


def fingerprint(job: ClipJob) -> str:
    """What makes two submissions the same job. The source counts in its public form, so a presigned URL
    signed again (a new token) is still the same clip."""
    clip = job.clip
    return ids.digest("job-identity", public_uri(clip.source_uri), clip.start_s, clip.end_s, job.manifest_hint,
                      length=64)


def claim(engine: Engine, job: ClipJob) -> None:
    """Raise Conflict when `job.job_id` was first submitted as something else."""
    from shared.store import jobs  # SQLAlchemy: only the ingest service claims (see TYPE_CHECKING above)

    if jobs.claim(engine, job.job_id, job.clip.clip_id, fingerprint(job)) != fingerprint(job):
        raise Conflict(f"clip {job.clip.clip_id} (job {job.job_id}) was already submitted with a different "
                       "source, range or hint; give this clip another clip_id, or use `mira recaption` to "
                       "caption the existing clip again")
