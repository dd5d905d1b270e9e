"""A local OpenAI-compatible server with fault injection, for tests and benches (see server.py)."""

from tests.fake_openai.faults import Faults
from tests.fake_openai.replies import Recorded, SentImage
from tests.fake_openai.server import FakeOpenAI

__all__ = ["FakeOpenAI", "Faults", "Recorded", "SentImage"]
