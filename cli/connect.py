"""Finding the pipeline a command talks to: MIRA_KAFKA_BOOTSTRAP, else the one running on MIRA_HOME."""

from __future__ import annotations

import json
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
    return broker.joined(settings, info)


def given_up(home: Path, bootstrap: str) -> list[str]:
    """Services that the pipeline running on this MIRA_HOME with this broker has given up on (`mira up` keeps
    the others going)."""
    try:
        info = json.loads(broker.pipeline_file(home).read_text())
    except (OSError, ValueError):
        return []
    if info.get("bootstrap") != bootstrap:
        return []
    return [name for name, service in info.get("services", {}).items() if service.get("given_up")]


def clean_stale(home: Path) -> bool:
    """Remove a pipeline.json whose owner is gone (or whose broker no longer answers); True if there was one."""
    path = broker.pipeline_file(home)
    if not path.exists() or broker.running_pipeline(home) is not None:
        return False
    path.unlink(missing_ok=True)
    print(f"removed a stale {path} (the pipeline it describes is no longer running)", file=sys.stderr)
    return True
