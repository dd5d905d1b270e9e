"""The seeded store (shared by every review test module), `mira review` on it, and one browser per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.review import browser as chromium
from tests.review.seeding import Seeded, seed


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(tmp_path_factory.mktemp("review-store"))


def review_env(home: Path, seeded: Seeded, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    return {**env, "MIRA_HOME": str(home), "MIRA_DATABASE_URL": seeded.database_url,
            "MIRA_BLOB_URL": seeded.blob_url, **extra}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium.chromium() as opened:
        yield opened
