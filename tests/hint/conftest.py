"""Hint tests run the real HintChooser and openai SDK against the fake OpenAI server."""

from __future__ import annotations

from tests.fake_openai.fixtures import _fake_server, fake_openai  # noqa: F401
from tests.store.conftest import store_url  # noqa: F401  (stored hints on SQLite and PostgreSQL)
