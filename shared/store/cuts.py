"""Cut lists: each source's shot boundaries, kept by the split stage while it scans and once it is done.

One row per source and detector version, rewritten as the scan advances (a few hundred boundaries for a
two-hour film: small). `scanned_to_s` says how far the boundaries are final, so a scan that was stopped
resumes there; `complete` rows are the source's cut list for good (`mira export --cuts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.messages import Cut, utcnow
from shared.store.schema import split_cuts

c = split_cuts.c


@dataclass(frozen=True)
class Progress:
    source_key: str
    video_id: str
    source_uri: str
    request_id: str
    duration_s: float
    scanned_to_s: float
    complete: bool
    cuts: list[Cut]


def load(engine: Engine, source_key: str) -> Progress | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(split_cuts).where(c.source_key == source_key)).first()
    return None if row is None else _progress(row)


def save(engine: Engine, p: Progress) -> None:
    values = {"video_id": p.video_id, "source_uri": p.source_uri, "request_id": p.request_id,
              "duration_s": p.duration_s, "scanned_to_s": p.scanned_to_s, "complete": p.complete,
              "cuts": [cut.model_dump() for cut in p.cuts], "updated_at": utcnow()}
    with engine.begin() as conn:
        if conn.execute(sa.update(split_cuts).where(c.source_key == p.source_key).values(values)).rowcount:
            return
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(split_cuts).values(source_key=p.source_key, **values))
    except sa.exc.IntegrityError:  # another replica inserted it a moment ago: ours is the newer state
        with engine.begin() as conn:
            conn.execute(sa.update(split_cuts).where(c.source_key == p.source_key).values(values))


def iter_all(engine: Engine) -> Iterator[Progress]:
    """Every cut list, in source order (streamed)."""
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=500).execute(sa.select(split_cuts).order_by(c.source_uri)):
            yield _progress(row)


def _progress(row: sa.Row[tuple[object, ...]]) -> Progress:
    m = row._mapping
    return Progress(m["source_key"], m["video_id"], m["source_uri"], m["request_id"], m["duration_s"],
                    m["scanned_to_s"], bool(m["complete"]), [Cut(**x) for x in m["cuts"]])
