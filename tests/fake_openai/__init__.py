"""The local OpenAI-compatible server (cli/localmodel) with fault injection, for tests and benches (see
server.py)."""

from cli.localmodel.replies import Recorded, SentImage
from tests.fake_openai.faults import Faults
from tests.fake_openai.server import FakeOpenAI

__all__ = ["FakeOpenAI", "Faults", "Recorded", "SentImage"]
