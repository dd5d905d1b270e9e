"""The MIRA_BUDGET_USD tally shared by every caption replica: worst-case spend is reserved before a call
and swapped for the real cost after it, each in one atomic UPDATE of a single row, so all replicas
together never reserve past the budget.

Amounts are integer nano-dollars: a reservation released is exactly the one taken, whatever the order. A
replica killed during a call never releases its reservation; its worst case stays counted (the call may
well have been billed), which errs on the side of the budget.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.store import engine as engines
from shared.store.schema import budget_tallies

NANO = 1_000_000_000
TALLY = "caption"
t = budget_tallies.c

# Built once with bound parameters (every model call reserves and settles).
_NAMED = t.name == sa.bindparam("tally")
_AMOUNT, _LIMIT = sa.bindparam("amount", type_=sa.BigInteger()), sa.bindparam("limit", type_=sa.BigInteger())
_FITS = t.spent_nano + t.reserved_nano + _AMOUNT <= _LIMIT
_HOLD = sa.update(budget_tallies).where(_NAMED).values(reserved_nano=t.reserved_nano + _AMOUNT)
_HOLD_UNDER = _HOLD.where(_FITS)
_HOLD_OVER = _HOLD.where(sa.or_(_FITS, sa.and_(t.reserved_nano == 0, t.spent_nano < _LIMIT)))
_SETTLE = sa.update(budget_tallies).where(_NAMED).values(
    reserved_nano=t.reserved_nano - sa.bindparam("reserved", type_=sa.BigInteger()),
    spent_nano=t.spent_nano + sa.bindparam("spent", type_=sa.BigInteger()))
_EXISTS = sa.select(t.name).where(_NAMED)
_READ = sa.select(t.spent_nano, t.reserved_nano).where(_NAMED)


def read(engine: Engine, name: str = TALLY) -> tuple[int, int]:
    """(spent, reserved) in nano-dollars."""
    with engine.connect() as conn:
        return _read(conn, name)


def reserve(engine: Engine, amount: int, limit: int | None, name: str = TALLY) -> tuple[bool, int, int]:
    """Hold `amount` if it fits under `limit` (None: no limit); (held, spent, reserved) after it.

    A budget below one call's worst case still lets calls through one at a time while any is left."""
    if limit is None:
        stmt, params = _HOLD, {"tally": name, "amount": amount}
    else:
        stmt = _HOLD_OVER if amount > limit else _HOLD_UNDER
        params = {"tally": name, "amount": amount, "limit": limit}
    with engines.write_transaction(engine, lock_key=f"budget:{name}") as conn:
        _ensure(conn, name)
        held = conn.execute(stmt, params).rowcount == 1
        return (held, *_read(conn, name))


def settle(engine: Engine, reserved: int, spent: int, name: str = TALLY) -> tuple[int, int]:
    """Release a reservation of `reserved` and add the real cost `spent`; (spent, reserved) after it."""
    with engines.write_transaction(engine, lock_key=f"budget:{name}") as conn:
        _ensure(conn, name)
        conn.execute(_SETTLE, {"tally": name, "reserved": reserved, "spent": spent})
        return _read(conn, name)


def _ensure(conn: Connection, name: str) -> None:
    if conn.scalar(_EXISTS, {"tally": name}) is None:
        conn.execute(sa.insert(budget_tallies).values(name=name, spent_nano=0, reserved_nano=0))


def _read(conn: Connection, name: str) -> tuple[int, int]:
    row = conn.execute(_READ, {"tally": name}).first()
    return (0, 0) if row is None else (int(row.spent_nano), int(row.reserved_nano))
