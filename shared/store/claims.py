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
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.messages import utcnow
from shared.store import engine as engines
from shared.store.schema import UtcDateTime, model_claims

c = model_claims.c

# Built once with bound parameters (every model call takes, renews and releases a claim).
# (Parameter names apart from the columns': SQLAlchemy reserves those in VALUES and SET.)
_KEY, _OWNER = sa.bindparam("claim_key", type_=sa.String()), sa.bindparam("claim_owner", type_=sa.String())
_UNTIL = sa.bindparam("claim_until", type_=UtcDateTime())
_NEW = sa.insert(model_claims).values(answer_key=_KEY, owner=_OWNER, lease_until=_UNTIL)
_TAKE_OVER = (sa.update(model_claims)
              .where(c.answer_key == _KEY, sa.or_(c.lease_until < sa.bindparam("now"), c.owner == _OWNER))
              .values(owner=_OWNER, lease_until=_UNTIL))
_RENEW = sa.update(model_claims).where(c.answer_key == _KEY, c.owner == _OWNER).values(lease_until=_UNTIL)
_RELEASE = sa.delete(model_claims).where(c.answer_key == _KEY, c.owner == _OWNER)


Taken = Literal["new", "taken over"]


def take(engine: Engine, key: str, owner: str, lease_s: float) -> Taken | None:
    """Claim `key` for `owner`: "new" when nobody held it, "taken over" when its lease had expired (or it was
    already theirs), None when someone else holds it."""
    now = utcnow()
    params = {"claim_key": key, "claim_owner": owner, "claim_until": now + timedelta(seconds=lease_s), "now": now}
    try:
        with engines.write_transaction(engine, lock_key=lock_key(key)) as conn:
            conn.execute(_NEW, params)
        return "new"
    except sa.exc.IntegrityError:
        pass  # someone holds it, or held it and died
    with engines.write_transaction(engine, lock_key=lock_key(key)) as conn:
        return "taken over" if conn.execute(_TAKE_OVER, params).rowcount == 1 else None


def renew(engine: Engine, key: str, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when the claim is no longer `owner`'s (it expired and was taken over)."""
    with engines.write_transaction(engine, lock_key=lock_key(key)) as conn:
        renewed = conn.execute(_RENEW, {"claim_key": key, "claim_owner": owner,
                                        "claim_until": utcnow() + timedelta(seconds=lease_s)})
    return renewed.rowcount == 1


def release(engine: Engine, key: str, owner: str) -> None:
    with engines.write_transaction(engine, lock_key=lock_key(key)) as conn:
        release_in(conn, key, owner)


def release_in(conn: Connection, key: str, owner: str) -> None:
    """Give the claim up inside a transaction the caller holds (with lock_key(key) taken)."""
    conn.execute(_RELEASE, {"claim_key": key, "claim_owner": owner})


def lock_key(key: str) -> str:
    return f"claim:{key}"


def holder(engine: Engine, key: str) -> tuple[str, float] | None:
    """(owner, seconds of lease left) of the claim on `key`, or None when nobody holds it."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.owner, c.lease_until).where(c.answer_key == key)).first()
    return None if row is None else (row.owner, (row.lease_until - utcnow()).total_seconds())
