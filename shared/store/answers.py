"""The model-answer log: successful captions keyed by what produced them (grid, hint, prompt version and
model), so a model is never paid twice for the same question, even when the answer never reached a record.

A quality repair is a question of its own (the same key with "repair" added): only the log knows its
answer, because a record holds the better of the two answers, not which call gave it. Each logged answer
carries its grid and dense-caption hash, so the duplicate rule sees an answer the moment it is paid for.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared import ids
from shared.messages import GPT_PARTS, Captions, utcnow
from shared.qa.rules import text_hash
from shared.store import claims
from shared.store import engine as engines
from shared.store.schema import model_answers, records

# Built once with bound parameters: the caption stage asks before every model call (compiled once, cached).
_INSERT = sa.insert(model_answers)
_LOGGED = sa.select(model_answers.c.captions).where(model_answers.c.answer_key == sa.bindparam("key"))
# A record answers the question of its grid, hint, prompt and model; one whose short caption the caption
# model wrote answers the question asked without a hint.
_HINT = sa.bindparam("hint", type_=sa.Text())
_RECORDED = (
    sa.select(*(records.c[name] for name in GPT_PARTS), records.c.short_caption, records.c.hint_source)
    .where(records.c.grid_sha256 == sa.bindparam("grid"),
           sa.or_(records.c.short_caption.is_not_distinct_from(_HINT),
                  sa.and_(_HINT.is_(None), records.c.hint_source == "caption_model")),
           records.c.prompt_version == sa.bindparam("prompt_version"), records.c.model == sa.bindparam("model"),
           records.c.status == "success")
    .order_by(records.c.created_at.desc(), records.c.id.desc())
    .limit(1)
)


def answer_key(grid_sha256: str, hint: str | None, prompt_version: str, model: str, repair: bool = False) -> str:
    # The first question's key is unchanged by repairs: answers logged before them are still found.
    return ids.digest("answer", grid_sha256, hint, prompt_version, model, *(["repair"] if repair else []),
                      length=64)


def remember(engine: Engine, key: str, captions: Captions, releasing: str | None = None,
             grid_sha256: str | None = None) -> None:
    """Log the answer; with `releasing` (a claim owner), also give up its claim on the question in the same
    transaction: one trip to the store after every paid call instead of two."""
    writing = engine.begin() if releasing is None else engines.write_transaction(engine, claims.lock_key(key))
    row = {"answer_key": key, "captions": captions.model_dump(exclude_none=True), "created_at": utcnow(),
           "grid_sha256": grid_sha256, "text_hash": text_hash(captions.dense_caption)}
    try:
        with writing as conn:
            conn.execute(_INSERT, row)
            if releasing is not None:
                claims.release_in(conn, key, releasing)
        return
    except sa.exc.IntegrityError:
        pass  # a redelivered message answered twice before either was logged: the first answer stays
    if releasing is not None:
        claims.release(engine, key, releasing)


def paid(engine: Engine, grid_sha256: str, hint: str | None, prompt_version: str, model: str,
         repair: bool = False) -> Captions | None:
    """The captions of the newest successful record of this question, else its logged answer, else None.
    For a repair, only its logged answer."""
    with engine.connect() as conn:
        if not repair:
            row = conn.execute(_RECORDED, {"grid": grid_sha256, "hint": hint, "prompt_version": prompt_version,
                                           "model": model}).first()
            if row is not None:
                short = row.short_caption if row.hint_source == "caption_model" else None
                return Captions(**{name: getattr(row, name) for name in GPT_PARTS}, short_caption=short)
        value = conn.scalar(_LOGGED, {"key": answer_key(grid_sha256, hint, prompt_version, model, repair)})
    return None if value is None else Captions.model_validate(value)
