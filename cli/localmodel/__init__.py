"""Mira's local offline model: an OpenAI-compatible server on loopback that answers every caption and hint
request with placeholder text, so the whole pipeline can be tried without a key (`make run`). The test
suite's fake server (tests/fake_openai) is this server with faults added."""

from cli.localmodel.server import LocalModel

__all__ = ["LocalModel"]
