"""Model-made hints stored by grid and hint settings, so a redelivered grid is given the sentence it was
given the first time (a new sentence would change the caption question and pay for it again)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import utcnow
from shared.store import engine as engines
from shared.store.schema import model_hints


def stored(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(sa.select(model_hints.c.text).where(model_hints.c.hint_key == key))


def keep(engine: Engine, key: str, text: str) -> str:
    """Store `text` under `key` unless a hint is already there; returns the stored one (first writer wins)."""
    try:
        with engines.write_transaction(engine, lock_key=f"hint:{key}") as conn:
            conn.execute(sa.insert(model_hints).values(hint_key=key, text=text, created_at=utcnow()))
        return text
    except sa.exc.IntegrityError:
        return stored(engine, key) or text
