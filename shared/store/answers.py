"""The model-answer log: successful captions keyed by what produced them (grid, hint, prompt version and
model), so a model is never paid twice for the same question, even when the answer never reached a record."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared import ids
from shared.messages import Captions, utcnow
from shared.store import claims
from shared.store import engine as engines
from shared.store.schema import model_answers, records

# Built once with bound parameters: the caption stage asks before every model call (compiled once, cached).
_INSERT = sa.insert(model_answers)
_LOGGED = sa.select(model_answers.c.captions).where(model_answers.c.answer_key == sa.bindparam("key"))
_RECORDED = (
    sa.select(*(records.c[name] for name in Captions.model_fields))
    .where(records.c.grid_sha256 == sa.bindparam("grid"),
           records.c.short_caption.is_not_distinct_from(sa.bindparam("hint", type_=sa.Text())),
           records.c.prompt_version == sa.bindparam("prompt_version"), records.c.model == sa.bindparam("model"),
           records.c.status == "success")
    .order_by(records.c.created_at.desc(), records.c.id.desc())
    .limit(1)
)


def answer_key(grid_sha256: str, hint: str | None, prompt_version: str, model: str) -> str:
    return ids.digest("answer", grid_sha256, hint, prompt_version, model, length=64)


def remember(engine: Engine, key: str, captions: Captions, releasing: str | None = None) -> None:
    """Log the answer; with `releasing` (a claim owner), also give up its claim on the question in the same
    transaction: one trip to the store after every paid call instead of two."""
    writing = engine.begin() if releasing is None else engines.write_transaction(engine, claims.lock_key(key))
    try:
        with writing as conn:
            conn.execute(_INSERT, {"answer_key": key, "captions": captions.model_dump(), "created_at": utcnow()})
            if releasing is not None:
                claims.release_in(conn, key, releasing)
        return
    except sa.exc.IntegrityError:
        pass  # a redelivered message answered twice before either was logged: the first answer stays
    if releasing is not None:
        claims.release(engine, key, releasing)


def paid(engine: Engine, grid_sha256: str, hint: str | None, prompt_version: str, model: str) -> Captions | None:
    """The captions of the newest successful record of this question, else its logged answer, else None."""
    with engine.connect() as conn:
        row = conn.execute(_RECORDED, {"grid": grid_sha256, "hint": hint, "prompt_version": prompt_version,
                                       "model": model}).first()
        if row is not None:
            return Captions(**row._mapping)
        value = conn.scalar(_LOGGED, {"key": answer_key(grid_sha256, hint, prompt_version, model)})
    return None if value is None else Captions.model_validate(value)
