"""Leased claims on model questions, so that several caption replicas pay for one question only once.

A claim is a row keyed by the question's answer key, with an owner and a lease expiry. `take` inserts it
(the primary key makes a second insert fail, on SQLite and PostgreSQL alike), or takes over a row whose
lease has passed, in one UPDATE that re-checks the expiry, so two replicas can never both take it. The owner
renews the lease while its call runs and deletes the row when it is done; a process that dies simply stops
renewing. Leases compare wall-clock times written by the replicas, so their clocks must agree to well
within a lease (NTP does).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import utcnow
from shared.store import engine as engines
from shared.store.schema import model_claims

c = model_claims.c


def take(engine: Engine, key: str, owner: str, lease_s: float) -> bool:
    """Claim `key` for `owner`: True when it is now theirs (new, already theirs, or its lease expired)."""
    now = utcnow()
    until = now + timedelta(seconds=lease_s)
    try:
        with engines.write_transaction(engine, lock_key=f"claim:{key}") as conn:
            conn.execute(sa.insert(model_claims).values(answer_key=key, owner=owner, lease_until=until))
        return True
    except sa.exc.IntegrityError:
        pass  # someone holds it, or held it and died
    with engines.write_transaction(engine, lock_key=f"claim:{key}") as conn:
        taken = conn.execute(sa.update(model_claims)
                             .where(c.answer_key == key, sa.or_(c.lease_until < now, c.owner == owner))
                             .values(owner=owner, lease_until=until))
    return taken.rowcount == 1


def renew(engine: Engine, key: str, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when the claim is no longer `owner`'s (it expired and was taken over)."""
    with engines.write_transaction(engine, lock_key=f"claim:{key}") as conn:
        renewed = conn.execute(sa.update(model_claims).where(c.answer_key == key, c.owner == owner)
                               .values(lease_until=utcnow() + timedelta(seconds=lease_s)))
    return renewed.rowcount == 1


def release(engine: Engine, key: str, owner: str) -> None:
    with engines.write_transaction(engine, lock_key=f"claim:{key}") as conn:
        conn.execute(sa.delete(model_claims).where(c.answer_key == key, c.owner == owner))


def holder(engine: Engine, key: str) -> tuple[str, float] | None:
    """(owner, seconds of lease left) of the claim on `key`, or None when nobody holds it."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.owner, c.lease_until).where(c.answer_key == key)).first()
    return None if row is None else (row.owner, (row.lease_until - utcnow()).total_seconds())
