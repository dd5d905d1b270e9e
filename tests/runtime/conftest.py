"""Fixtures of the runtime tests: a broker of the test's own, which a test may stop to make it go away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.apache_kafka import KafkaCluster, KafkaUnavailable
from tests.conftest import TEST_CLUSTER, broker_unusable


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaCluster]:
    """An Apache Kafka node on its own ports, not started: the test starts it, may stop it (SIGKILL) and
    start it again on the same log directory."""
    broker = KafkaCluster(tmp_path / "broker", nodes=1, config=TEST_CLUSTER)
    try:
        yield broker
    except KafkaUnavailable as exc:
        broker_unusable(f"Apache Kafka could not be started: {exc}")
    finally:
        broker.stop()


@pytest.fixture
def own_settings(settings: Settings, own_broker: KafkaCluster) -> Settings:
    """`settings` pointing at `own_broker` (not started yet: call own_broker.start() when it should be up)."""
    return settings.model_copy(update={"kafka_bootstrap": own_broker.bootstrap})
