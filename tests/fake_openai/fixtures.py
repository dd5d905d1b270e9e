"""Pytest fixtures for the fake server: one server per test session, reset before every test.

Import them in a folder's conftest.py: `from tests.fake_openai.fixtures import fake_openai  # noqa: F401`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_openai.server import FakeOpenAI


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_openai(_fake_server: FakeOpenAI) -> FakeOpenAI:
    """The running fake server with no faults and no recorded requests."""
    _fake_server.reset()
    return _fake_server


@pytest.fixture(name="fake_openai")
def fake_openai_of_its_own() -> Iterator[FakeOpenAI]:
    """A server for this test alone, for tests whose pipeline processes keep connections to it: import this
    one instead of `fake_openai` (it is requested under the same name)."""
    with FakeOpenAI() as fake:
        yield fake
