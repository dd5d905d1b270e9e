"""The Batch API ledger: which batch holds which request (custom_id), in the shared record store.

A replica that takes over a partition, or restarts in a new pod, finds a request already submitted and
reads that batch instead of uploading the same request again. The first batch recorded for a request wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import utcnow
from shared.store import engine as engines
from shared.store.schema import batch_ledger

b = batch_ledger.c


def batch_of(engine: Engine, custom_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(sa.select(b.batch_id).where(b.custom_id == custom_id))


def submitted(engine: Engine, custom_ids: Iterable[str]) -> dict[str, str]:
    """custom_id -> batch id for those of `custom_ids` already in a batch."""
    ids = list(custom_ids)
    if not ids:
        return {}
    with engine.connect() as conn:
        return {cid: bid for cid, bid in conn.execute(sa.select(b.custom_id, b.batch_id)
                                                       .where(b.custom_id.in_(ids)))}


def put(engine: Engine, custom_ids: Iterable[str], batch_id: str, keep_s: float) -> None:
    """Record `batch_id` for each request not yet in a batch; entries older than `keep_s` are pruned."""
    now = utcnow()
    with engines.write_transaction(engine, lock_key="batch_ledger") as conn:
        conn.execute(sa.delete(batch_ledger).where(b.submitted_at < now - timedelta(seconds=keep_s)))
        for cid in custom_ids:
            if conn.scalar(sa.select(b.batch_id).where(b.custom_id == cid)) is None:
                conn.execute(sa.insert(batch_ledger).values(custom_id=cid, batch_id=batch_id, submitted_at=now))


def drop(engine: Engine, custom_ids: Iterable[str], batch_id: str) -> None:
    """Forget requests of a batch that failed or expired (nothing was billed): a retry submits again."""
    ids = list(custom_ids)
    with engines.write_transaction(engine, lock_key="batch_ledger") as conn:
        conn.execute(sa.delete(batch_ledger).where(b.custom_id.in_(ids), b.batch_id == batch_id))
