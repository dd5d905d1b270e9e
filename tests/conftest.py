"""Fixtures every test folder may use: the session's Apache Kafka (or the embedded Tansu broker, for the
embedded path), a broker of a test's own that it may stop, and isolated settings. The session's PostgreSQL
lives in tests/store/databases.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.broker import EmbeddedBroker
from shared.settings import Settings
from tests import apache_kafka
from tests.store import databases

# Short group timeouts so a departed member is expired quickly; the test cluster allows them
# (group.min.session.timeout.ms), a production cluster's default minimum is 6 s.
FAST_GROUPS = {"kafka_session_timeout_ms": 3000, "kafka_heartbeat_interval_ms": 300,
               "kafka_rebalance_timeout_ms": 3000}
TEST_CLUSTER = {"group.min.session.timeout.ms": "500"}
_seen: dict[str, str] = {}  # what the session ran on, for the summary at the end


def broker_unusable(reason: str) -> None:
    """Skip the tests that need Apache Kafka, with the reason shown (`-rs`); fail them where CI is set."""
    if databases.in_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: the broker tests must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Apache Kafka (KRaft, one node) for the whole session, or the cluster at MIRA_TEST_KAFKA_BOOTSTRAP."""
    given = os.environ.get("MIRA_TEST_KAFKA_BOOTSTRAP")
    if given:
        _seen["kafka"] = f"the Kafka cluster at {given} (MIRA_TEST_KAFKA_BOOTSTRAP)"
        yield given
        return
    cluster = apache_kafka.KafkaCluster(tmp_path_factory.mktemp("kafka"), nodes=1, config=TEST_CLUSTER)
    try:
        bootstrap = cluster.start()
    except apache_kafka.KafkaUnavailable as exc:
        cluster.stop()
        broker_unusable(f"Apache Kafka could not be started: {exc}")
    _seen["kafka"] = f"Apache Kafka {cluster.version()} (KRaft, one node) on {bootstrap}"
    yield bootstrap
    cluster.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[apache_kafka.KafkaCluster]:
    """An Apache Kafka node on its own ports, not started: the test starts it, may stop it (SIGKILL) and
    start it again on the same log directory and port, without hurting the session's broker."""
    broker = apache_kafka.KafkaCluster(tmp_path / "broker", nodes=1, config=TEST_CLUSTER)
    try:
        yield broker
    except apache_kafka.KafkaUnavailable as exc:
        broker_unusable(f"Apache Kafka could not be started: {exc}")
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tansu_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded broker that `mira up` and an embedded `mira caption` start, for tests of that path."""
    broker = EmbeddedBroker(tmp_path_factory.mktemp("tansu"))
    yield broker.start()
    broker.stop()


def on_broker(bootstrap: str, tmp_path: Path, **overrides: object) -> Settings:
    """Settings on a shared broker with topics of this test's own (a unique prefix)."""
    return Settings(**{  # type: ignore[arg-type]
        "home": tmp_path / "home", "kafka_bootstrap": bootstrap, "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
        "topic_partitions": 2, "health_port": 0, "health_host": "127.0.0.1", "retry_base_s": 0.05,
        "retry_max_s": 0.2, "commit_interval_s": 0.2, "shutdown_grace_s": 5, **FAST_GROUPS, **overrides})


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    return on_broker(kafka_bootstrap, tmp_path)


@pytest.fixture
def own_settings(settings: Settings, own_broker: apache_kafka.KafkaCluster) -> Settings:
    """`settings` pointing at `own_broker` (not started yet: call own_broker.start() when it should be up)."""
    return settings.model_copy(update={"kafka_bootstrap": own_broker.bootstrap})


@pytest.fixture
def tansu_settings(tansu_bootstrap: str, tmp_path: Path) -> Settings:
    return on_broker(tansu_bootstrap, tmp_path, **EmbeddedBroker.CLIENT_SETTINGS)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if databases.own_server_version():
        _seen["postgresql"] = databases.own_server_version()
    databases.stop_own_server()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for what, where in _seen.items():
        terminalreporter.write_line(f"{what}: {where}")
