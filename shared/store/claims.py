"""Leased claims on model questions, so that several caption replicas pay for one question only once.

A claim is a row keyed by the question's answer key, with an owner and a lease expiry. `take` inserts it,
or takes over a row whose lease has passed, in one upsert (INSERT ... ON CONFLICT DO UPDATE ... WHERE the
lease has passed, on SQLite and PostgreSQL alike) that the database runs atomically, so two replicas can
never both take it. The owner renews the lease while its call runs and deletes the row when it is done; a
process that dies simply stops renewing. Leases compare wall-clock times written by the replicas, so their
clocks must agree to well within a lease (NTP does).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.messages import utcnow
from shared.store import engine as engines
from shared.store.schema import UtcDateTime, model_claims

c = model_claims.c

# Built once with bound parameters (every model call takes, renews and releases a claim). Each is one atomic
# statement, so none needs a lock of its own (SQLite serialises writers anyway).
# (Parameter names apart from the columns': SQLAlchemy reserves those in VALUES and SET.)
_KEY, _OWNER = sa.bindparam("claim_key", type_=sa.String()), sa.bindparam("claim_owner", type_=sa.String())
_UNTIL = sa.bindparam("claim_until", type_=UtcDateTime())


def _take(insert: Any) -> Any:
    new = insert(model_claims).values(answer_key=_KEY, owner=_OWNER, lease_until=_UNTIL)
    return new.on_conflict_do_update(  # a row that is there is taken over only when its lease has passed
        index_elements=[c.answer_key], set_={"owner": new.excluded.owner, "lease_until": new.excluded.lease_until},
        where=sa.or_(c.lease_until < sa.bindparam("now"), c.owner == new.excluded.owner),
    ).returning(c.owner)  # a row back when it was taken (psycopg gives no row count for an upsert)


_TAKE = engines.upserts(_take)
_RENEW = sa.update(model_claims).where(c.answer_key == _KEY, c.owner == _OWNER).values(lease_until=_UNTIL)
_RELEASE = sa.delete(model_claims).where(c.answer_key == _KEY, c.owner == _OWNER)


def take(engine: Engine, key: str, owner: str, lease_s: float) -> bool:
    """Claim `key` for `owner`: True when it is now theirs (new, already theirs, or its lease expired)."""
    with engines.write_transaction(engine, lock_key=()) as conn:
        return take_in(conn, key, owner, lease_s)


def take_in(conn: Connection, key: str, owner: str, lease_s: float) -> bool:
    """`take` inside a transaction the caller holds."""
    now = utcnow()
    params = {"claim_key": key, "claim_owner": owner, "claim_until": now + timedelta(seconds=lease_s), "now": now}
    return conn.execute(_TAKE[conn.dialect.name], params).first() is not None


def renew(engine: Engine, key: str, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when the claim is no longer `owner`'s (it expired and was taken over)."""
    with engines.write_transaction(engine, lock_key=()) as conn:
        renewed = conn.execute(_RENEW, {"claim_key": key, "claim_owner": owner,
                                        "claim_until": utcnow() + timedelta(seconds=lease_s)})
    return renewed.rowcount == 1


def release(engine: Engine, key: str, owner: str) -> None:
    with engines.write_transaction(engine, lock_key=()) as conn:
        release_in(conn, key, owner)


def release_in(conn: Connection, key: str, owner: str) -> None:
    """Give the claim up inside a transaction the caller holds."""
    conn.execute(_RELEASE, {"claim_key": key, "claim_owner": owner})


def holder(engine: Engine, key: str) -> tuple[str, float] | None:
    """(owner, seconds of lease left) of the claim on `key`, or None when nobody holds it."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.owner, c.lease_until).where(c.answer_key == key)).first()
    return None if row is None else (row.owner, (row.lease_until - utcnow()).total_seconds())
