"""Finding the pipeline a command talks to: MIRA_KAFKA_BOOTSTRAP, else the one running on MIRA_HOME."""

from __future__ import annotations

import sys
from pathlib import Path

from shared import broker
from shared.settings import Settings


def running_settings() -> Settings | None:
    """Settings pointed at a reachable pipeline, or None when none is running."""
    settings = Settings()
    if settings.kafka_bootstrap:
        return settings
    info = broker.running_pipeline(settings.home)
    if info is None:
        clean_stale(settings.home)
        return None
    return settings.model_copy(update={"kafka_bootstrap": info["bootstrap"]})


def clean_stale(home: Path) -> bool:
    """Remove a pipeline.json whose owner is gone (or whose broker no longer answers); True if there was one."""
    path = broker.pipeline_file(home)
    if not path.exists() or broker.running_pipeline(home) is not None:
        return False
    path.unlink(missing_ok=True)
    print(f"removed a stale {path} (the pipeline it describes is no longer running)", file=sys.stderr)
    return True
