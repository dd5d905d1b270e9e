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
from sqlalchemy.sql import ColumnElement

from shared.store import engine as engines
from shared.store.schema import budget_tallies

NANO = 1_000_000_000
TALLY = "caption"
t = budget_tallies.c


def read(engine: Engine, name: str = TALLY) -> tuple[int, int]:
    """(spent, reserved) in nano-dollars."""
    with engine.connect() as conn:
        return _read(conn, name)


def reserve(engine: Engine, amount: int, limit: int | None, name: str = TALLY) -> tuple[bool, int, int]:
    """Hold `amount` if it fits under `limit` (None: no limit); (held, spent, reserved) after it.

    A budget below one call's worst case still lets calls through one at a time while any is left."""
    fits: ColumnElement[bool] = sa.true()
    if limit is not None:
        fits = t.spent_nano + t.reserved_nano + amount <= limit
        if amount > limit:
            fits = sa.or_(fits, sa.and_(t.reserved_nano == 0, t.spent_nano < limit))
    with engines.write_transaction(engine, lock_key=f"budget:{name}") as conn:
        _ensure(conn, name)
        held = conn.execute(sa.update(budget_tallies).where(t.name == name, fits)
                            .values(reserved_nano=t.reserved_nano + amount)).rowcount == 1
        return (held, *_read(conn, name))


def settle(engine: Engine, reserved: int, spent: int, name: str = TALLY) -> tuple[int, int]:
    """Release a reservation of `reserved` and add the real cost `spent`; (spent, reserved) after it."""
    with engines.write_transaction(engine, lock_key=f"budget:{name}") as conn:
        _ensure(conn, name)
        conn.execute(sa.update(budget_tallies).where(t.name == name)
                     .values(reserved_nano=t.reserved_nano - reserved, spent_nano=t.spent_nano + spent))
        return _read(conn, name)


def _ensure(conn: Connection, name: str) -> None:
    if conn.scalar(sa.select(t.name).where(t.name == name)) is None:
        conn.execute(sa.insert(budget_tallies).values(name=name, spent_nano=0, reserved_nano=0))


def _read(conn: Connection, name: str) -> tuple[int, int]:
    row = conn.execute(sa.select(t.spent_nano, t.reserved_nano).where(t.name == name)).first()
    return (0, 0) if row is None else (int(row.spent_nano), int(row.reserved_nano))
