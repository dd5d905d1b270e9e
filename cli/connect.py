"""Finding the pipeline a command talks to: MIRA_KAFKA_BOOTSTRAP, else the one running on MIRA_HOME."""

from __future__ import annotations

from shared import broker
from shared.settings import Settings


def running_settings() -> Settings | None:
    """Settings pointed at a reachable pipeline, or None when none is running."""
    settings = Settings()
    if settings.kafka_bootstrap:
        return settings
    info = broker.running_pipeline(settings.home)
    if info is None:
        return None
    return settings.model_copy(update={"kafka_bootstrap": info["bootstrap"]})
