"""Turns MIRA_DATABASE_URL into a SQLAlchemy engine and gives writers a transaction that serialises them.

Version numbers are "max + 1" per clip, so two writers must not read the same max at once:
- SQLite: a writing transaction starts with BEGIN IMMEDIATE, which takes the database's write lock up
  front (readers go on in WAL mode); reads start a plain deferred BEGIN so a long export never blocks
  the sink.
- PostgreSQL: a transaction-scoped advisory lock per key (the clip id), released at commit.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

SQLITE_BUSY_TIMEOUT_S = 60.0
# First key of every advisory lock Mira takes, so it never collides with other users of the database.
_LOCK_NAMESPACE = zlib.crc32(b"mira.caption_records") & 0x7FFFFFFF
_IMMEDIATE = "mira_begin_immediate"


class StoreError(RuntimeError):
    """The record store cannot be used: unreachable, or its schema is newer than this Mira."""


def parse_url(url: str) -> URL:
    """`sqlite:///path` or `postgresql://...` (driven by psycopg 3); anything else is a clear error."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ValueError(f"MIRA_DATABASE_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("MIRA_DATABASE_URL: SQLite needs a file (sqlite:///path/to/mira.db), not memory")
        return parsed
    raise ValueError(f"MIRA_DATABASE_URL must be sqlite:///PATH or postgresql://..., got {shown(parsed)}")


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create(url: str) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    assert parsed.database is not None
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself instead of pysqlite's implicit, deferred one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers and the single writer do not block each other
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at every checkpoint; safe with WAL
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")


@contextmanager
def write_transaction(engine: Engine, lock_key: str | Collection[str]) -> Iterator[Connection]:
    """A transaction that holds the writers' lock for `lock_key`, or for each of several keys (taken in
    sorted order, so two writers of overlapping sets cannot deadlock); SQLite: the whole database."""
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                for key in [lock_key] if isinstance(lock_key, str) else sorted(set(lock_key)):
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
                        {"ns": _LOCK_NAMESPACE, "key": key},
                    )
            yield conn
