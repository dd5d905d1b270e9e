"""Fixtures of the runtime tests: a broker of the test's own, which a test may stop to make it go away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.broker import EmbeddedBroker
from shared.settings import Settings


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """Started on its own port; the test may stop it (and start it again)."""
    broker = EmbeddedBroker(tmp_path / "broker")
    yield broker
    broker.stop()


@pytest.fixture
def own_settings(settings: Settings, own_broker: EmbeddedBroker) -> Settings:
    """`settings` pointing at `own_broker` (not started yet: call own_broker.start() when it should be up)."""
    return settings.model_copy(update={"kafka_bootstrap": own_broker.address})
