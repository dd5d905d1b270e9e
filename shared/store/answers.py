"""The model-answer log: successful captions keyed by what produced them (grid, hint, prompt version and
model), so a model is never paid twice for the same question, even when the answer never reached a record."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared import ids
from shared.messages import Captions, utcnow
from shared.store.schema import model_answers


def answer_key(grid_sha256: str, hint: str | None, prompt_version: str, model: str) -> str:
    return ids.digest("answer", grid_sha256, hint, prompt_version, model, length=64)


def remember(engine: Engine, key: str, captions: Captions) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(model_answers).values(answer_key=key, captions=captions.model_dump(),
                                                         created_at=utcnow()))
    except sa.exc.IntegrityError:
        pass  # a redelivered message answered twice before either was logged: the first answer stays


def recall(engine: Engine, key: str) -> Captions | None:
    with engine.connect() as conn:
        value = conn.scalar(sa.select(model_answers.c.captions).where(model_answers.c.answer_key == key))
    return None if value is None else Captions.model_validate(value)
