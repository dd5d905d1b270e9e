"""Whose fault a failure is (shared.runtime.outage.dependency_down), told from the errors the real clients
raise when their servers are away, shutting down or refusing: those name the dependency to wait for; the
input's own failures name none and are retried and dead-lettered as before."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiokafka.errors
import boto3
import botocore.exceptions
import openai
import pytest
import sqlalchemy as sa

from shared.runtime.errors import BadInput
from shared.runtime.outage import BROKER, MODEL_ENDPOINT, OBJECT_STORE, RECORD_STORE, dependency_down
from shared.store import engine as engines
from tests.fake_openai.server import FakeOpenAI
from tests.store.databases import database_url


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raised(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the error is what is tested
        return exc
    raise AssertionError("nothing was raised")


def execute(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with database_url(request.param, tmp_path) as url:
        made = engines.create(url)
        with made.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        yield made
        made.dispose()


def test_a_database_that_is_away_locked_shutting_down_or_refusing_a_serialization_is_an_outage(
        engine: sa.Engine) -> None:
    execute(engine, "INSERT INTO t VALUES (1)")
    duplicate = raised(lambda: execute(engine, "INSERT INTO t VALUES (1)"))
    assert isinstance(duplicate, sa.exc.IntegrityError) and dependency_down(duplicate) is None  # the input's
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        impatient = sa.create_engine(f"sqlite:///{engine.url.database}", connect_args={"timeout": 0})
        holder = sqlite3.connect(engine.url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        locked = raised(lambda: execute(impatient, "INSERT INTO t VALUES (5)"))
        holder.close()
        impatient.dispose()
        assert "database is locked" in str(locked) and dependency_down(locked) == RECORD_STORE
        return
    # Two serializable transactions that each read what the other writes: PostgreSQL refuses the second.
    first, second = engine.connect(), engine.connect()
    for conn in (first, second):
        conn.execution_options(isolation_level="SERIALIZABLE")
        conn.begin()
        conn.execute(sa.text("SELECT count(*) FROM t"))
    first.execute(sa.text("INSERT INTO t VALUES (2)"))
    second.execute(sa.text("INSERT INTO t VALUES (3)"))
    first.commit()
    refused = raised(second.commit)
    assert "could not serialize" in str(refused) and dependency_down(refused) == RECORD_STORE
    # An administrator (or a failover) ends the session.
    victim = engine.connect()
    pid = victim.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    first.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    ended = raised(lambda: victim.execute(sa.text("SELECT 1")))
    assert "terminating connection" in str(ended) and dependency_down(ended) == RECORD_STORE
    for conn in (first, second, victim):
        conn.close()
    away = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    assert dependency_down(raised(away.connect)) == RECORD_STORE


def test_an_object_store_that_is_away_or_answers_5xx_is_an_outage() -> None:
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{closed_port()}", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s",
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    away = raised(lambda: client.head_object(Bucket="grids", Key="k"))
    assert isinstance(away, botocore.exceptions.EndpointConnectionError) and dependency_down(away) == OBJECT_STORE

    def answered(status: int, code: str) -> botocore.exceptions.ClientError:
        return botocore.exceptions.ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                                               "GetObject")

    assert dependency_down(answered(503, "SlowDown")) == OBJECT_STORE
    assert dependency_down(answered(500, "InternalError")) == OBJECT_STORE
    assert dependency_down(answered(404, "NoSuchKey")) is None  # the message names a blob that is not there
    assert dependency_down(answered(403, "AccessDenied")) is None


async def test_a_model_endpoint_that_is_away_or_answers_5xx_is_an_outage_and_a_4xx_is_not() -> None:
    away = openai.AsyncOpenAI(api_key="k", base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError) as refused:
        await away.models.list()
    assert dependency_down(refused.value) == MODEL_ENDPOINT
    with FakeOpenAI() as fake:
        client = openai.AsyncOpenAI(api_key="k", base_url=fake.base_url, max_retries=0)
        for fault, expected in (("status:503", MODEL_ENDPOINT), ("status:429", MODEL_ENDPOINT), ("status:400", None)):
            fake.configure(mode=fault)
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert dependency_down(caught.value) == expected, fault
        await client.close()
    await away.close()


async def test_a_broker_that_is_away_or_refuses_a_produce_is_an_outage() -> None:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{closed_port()}", request_timeout_ms=500)
    with pytest.raises(aiokafka.errors.KafkaConnectionError) as away:
        await producer.start()
    await producer.stop()
    assert dependency_down(away.value) == BROKER
    # What a produce or commit fails with when the cluster answers but cannot take it (issue 21).
    for refused in (aiokafka.errors.NotEnoughReplicasError, aiokafka.errors.NotEnoughReplicasAfterAppendError,
                    aiokafka.errors.NotLeaderForPartitionError, aiokafka.errors.RequestTimedOutError,
                    aiokafka.errors.LeaderNotAvailableError, aiokafka.errors.KafkaTimeoutError,
                    aiokafka.errors.NotCoordinatorForGroupError, aiokafka.errors.CoordinatorNotAvailableError):
        assert dependency_down(refused()) == BROKER, refused
    assert dependency_down(aiokafka.errors.MessageSizeTooLargeError()) is None
    assert dependency_down(aiokafka.errors.TopicAuthorizationFailedError()) is None


def test_the_inputs_own_failures_name_no_dependency() -> None:
    for exc in (BadInput("corrupt video"), ValueError("bad range"), ConnectionError("from who knows where"),
                TimeoutError()):
        assert dependency_down(exc) is None
