"""The model-answer log: successful captions keyed by what produced them (grid, hint, prompt version and
model), so a model is never paid twice for the same question, even when the answer never reached a record.

Each function takes several questions at once: the caption stage hands in every question that arrived
together (shared/coalesce.py), one transaction for all of them instead of one per clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared import ids
from shared.messages import Captions, utcnow
from shared.store import claims
from shared.store import engine as engines
from shared.store.schema import model_answers, records

# Built once with bound parameters: the caption stage asks before every model call (compiled once, cached).
# A question answered twice before either was logged (a redelivery) keeps the first answer.
_INSERT = engines.upserts(lambda insert: insert(model_answers).on_conflict_do_nothing())
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


@dataclass(frozen=True)
class Question:
    """What a caption answers: one grid, its hint, the prompt version and the model."""

    grid_sha256: str
    hint: str | None
    prompt_version: str
    model: str

    @cached_property
    def key(self) -> str:
        return answer_key(self.grid_sha256, self.hint, self.prompt_version, self.model)


def answer_key(grid_sha256: str, hint: str | None, prompt_version: str, model: str) -> str:
    return ids.digest("answer", grid_sha256, hint, prompt_version, model, length=64)


def paid(engine: Engine, questions: Sequence[Question]) -> list[Captions | None]:
    """For each question: the captions of its newest successful record, else its logged answer, else None."""
    with engine.connect() as conn:
        return [_paid_in(conn, q) for q in questions]


def claim(engine: Engine, questions: Sequence[Question], owner: str, lease_s: float
          ) -> list[tuple[Captions | None, bool]]:
    """For each question, in one transaction: (its paid answer, None) when there is one; else (None, whether
    `owner` now holds its claim). The claim is taken before the answer is looked for, so an answer that
    lands meanwhile is seen (and the claim given back)."""
    out: list[tuple[Captions | None, bool]] = []
    # No per-question lock: the claim upsert is atomic by itself, and the answer is read after it.
    with engines.write_transaction(engine, lock_key=()) as conn:
        for q in questions:
            claimed = claims.take_in(conn, q.key, owner, lease_s)
            found = _paid_in(conn, q)
            if found is not None and claimed:
                claims.release_in(conn, q.key, owner)
            out.append((found, claimed and found is None))
    return out


def remember(engine: Engine, answered: Sequence[tuple[Question, Captions]], releasing: str | None = None) -> None:
    """Log the answers; with `releasing` (a claim owner), also give up its claims on these questions in the
    same transaction: one trip to the store after the paid calls instead of two."""
    with engines.write_transaction(engine, lock_key=()) as conn:
        now = utcnow()
        for q, captions in answered:
            conn.execute(_INSERT[conn.dialect.name],
                         {"answer_key": q.key, "captions": captions.model_dump(), "created_at": now})
            if releasing is not None:
                claims.release_in(conn, q.key, releasing)


def _paid_in(conn: Connection, q: Question) -> Captions | None:
    row = conn.execute(_RECORDED, {"grid": q.grid_sha256, "hint": q.hint, "prompt_version": q.prompt_version,
                                   "model": q.model}).first()
    if row is not None:
        return Captions(**row._mapping)
    value: Any = conn.scalar(_LOGGED, {"key": q.key})
    return None if value is None else Captions.model_validate(value)
