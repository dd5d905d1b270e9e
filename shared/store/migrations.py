"""Numbered schema migrations, applied in order when a store opens; `schema_migrations` remembers them.

Every process that opens the store runs `apply`, so it must be safe when several start at once: it runs
inside the writers' lock (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory lock), and both backends roll DDL
back with the transaction, so a migration is applied completely or not at all.

To change the schema: append a Migration with the next number that alters existing databases, and
change schema.py to match. Migrations 1 and 2 build the first-release tables from frozen copies
(first_release.py): migration 6 altered them, and a new database must get there by the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.store import engine as engines
from shared.store import first_release
from shared.store.schema import (
    batch_ledger,
    budget_tallies,
    job_identities,
    model_answers,
    model_claims,
    model_hints,
    records,
    schema_migrations,
    split_cuts,
)


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Callable[[Connection], None]


def _create_caption_records(conn: Connection) -> None:
    first_release.records.create(conn)


def _create_model_answers(conn: Connection) -> None:
    first_release.model_answers.create(conn)


def _create_replica_coordination(conn: Connection) -> None:
    for table in (model_claims, model_hints, budget_tallies, batch_ledger):
        table.create(conn)
    # The budget starts from what the records already cost, as it did when each replica read their total.
    spent = conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(records.c.cost_usd), 0.0))) or 0.0
    conn.execute(sa.insert(budget_tallies).values(name="caption", spent_nano=round(float(spent) * 1e9),
                                                  reserved_nano=0))


def _create_job_identities(conn: Connection) -> None:
    job_identities.create(conn)


def _create_review_indexes(conn: Connection) -> None:
    """Databases made by migration 1 from an older schema.py already have them: checkfirst."""
    for index in records.indexes:
        if index.name in ("ix_caption_records_video", "ix_caption_records_status"):
            index.create(conn, checkfirst=True)


QUALITY_COLUMNS = ("quality", "quality_reasons", "repair", "repair_reasons", "text_hash", "verdict", "verdict_by",
                   "verdict_at")


def _add_quality(conn: Connection) -> None:
    """Nullable columns only, so existing rows need no rewrite: their quality stays null until
    `mira qa recheck` fills it (and their text hash, which the duplicate rule looks up)."""
    for table, names in ((records, QUALITY_COLUMNS), (model_answers, ("grid_sha256", "text_hash"))):
        for name in names:
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
    for index in (*records.indexes, *model_answers.indexes):
        if index.name in ("ix_caption_records_text_hash", "ix_caption_records_quality", "ix_model_answers_text_hash"):
            index.create(conn)


def _create_split_cuts(conn: Connection) -> None:
    split_cuts.create(conn)


SCALE_INDEXES = ("ix_caption_records_newest", "ix_caption_records_verdict")


def _add_scale_indexes(conn: Connection) -> None:
    """Built in the migration's transaction, so writers wait while it runs: a part of the 180 s that all eight
    plain indexes of a 10M-version PostgreSQL store took to build on a busy 2-core machine (make bench-store,
    docs/capacity.md); under a second for the stores of a workstation."""
    for index in records.indexes:
        if index.name in SCALE_INDEXES:
            index.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "caption records", _create_caption_records),
    Migration(2, "model answers", _create_model_answers),
    Migration(3, "claims, hints, budget and batch ledger shared by replicas", _create_replica_coordination),
    Migration(4, "job identities", _create_job_identities),
    Migration(5, "review gallery indexes: video and status", _create_review_indexes),
    Migration(6, "caption quality, repair, text hash and verdict columns", _add_quality),
    Migration(7, "split cut lists", _create_split_cuts),
    Migration(8, "indexes for tens of millions of versions: newest version per clip (covering), verdict",
              _add_scale_indexes),
)


def apply(engine: Engine) -> list[int]:
    """Bring the database up to the newest migration; returns the numbers applied now (often none)."""
    with engines.write_transaction(engine, lock_key="schema_migrations") as conn:
        schema_migrations.create(conn, checkfirst=True)
        done = set(conn.scalars(sa.select(schema_migrations.c.version)))
        newest = max((m.number for m in MIGRATIONS), default=0)
        if done and max(done) > newest:
            raise engines.StoreError(
                f"the database schema is at migration {max(done)} but this Mira knows only up to {newest}:"
                " run a newer Mira against it"
            )
        applied = []
        for migration in MIGRATIONS:
            if migration.number in done:
                continue
            migration.apply(conn)
            conn.execute(
                sa.insert(schema_migrations).values(
                    version=migration.number, name=migration.name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(migration.number)
        return applied
