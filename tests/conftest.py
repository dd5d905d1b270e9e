"""Fixtures every test folder may use: the embedded Kafka-protocol broker and isolated settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.broker import EmbeddedBroker
from shared.settings import Settings

# The embedded broker expires a departed group member only at its session timeout: keep it short in tests.
FAST_GROUPS = {"kafka_session_timeout_ms": 3000, "kafka_heartbeat_interval_ms": 300,
               "kafka_rebalance_timeout_ms": 3000}


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    yield broker.start()
    broker.stop()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings on the shared broker with topics of this test's own (a unique prefix)."""
    return Settings(
        home=tmp_path / "home", kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        topic_partitions=2, health_port=0, health_host="127.0.0.1", retry_base_s=0.05, retry_max_s=0.2,
        commit_interval_s=0.2, shutdown_grace_s=5, **FAST_GROUPS,
    )
