"""Caption tests run the real Captioner and openai SDK against the fake OpenAI server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image, ImageDraw

from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from tests.fake_openai import FakeOpenAI
from tests.fake_openai.fixtures import _fake_server, fake_openai  # noqa: F401
from tests.store.conftest import store_url  # noqa: F401  (SQLite and PostgreSQL, for tests across replicas)

GRID_W, GRID_H = 1536, 432


def make_grid(width: int = GRID_W, height: int = GRID_H, shade: int = 90) -> bytes:
    """A 2x4 JPEG with white separators, like the framegrid renderer's (content does not matter here)."""
    img = Image.new("RGB", (width, height), (shade, 120, 160))
    draw = ImageDraw.Draw(img)
    for col in (1, 2, 3):
        draw.rectangle([col * width // 4 - 2, 0, col * width // 4 + 1, height], fill="white")
    draw.rectangle([0, height // 2 - 2, width, height // 2 + 1], fill="white")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def grid() -> bytes:
    return make_grid()


def caption_settings(fake: FakeOpenAI, **overrides: Any) -> CaptionSettings:
    """Settings pointed at the fake, with backoff short enough for tests."""
    values: dict[str, Any] = {
        "openai_base_url": fake.base_url, "openai_api_key": "sk-test-secret", "caption_backoff_base_s": 0.02,
        "caption_backoff_max_s": 0.2, "caption_timeout_s": 5.0, "caption_max_retries": 3,
    }
    return CaptionSettings(**(values | overrides))


@pytest.fixture
async def captioner(fake_openai: FakeOpenAI) -> AsyncIterator[Captioner]:  # noqa: F811
    cap = Captioner(caption_settings(fake_openai))
    yield cap
    await cap.aclose()
