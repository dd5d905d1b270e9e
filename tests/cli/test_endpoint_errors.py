"""A model endpoint that cannot be reached is named by what went wrong, through the real SDK and either of
its transports: connection refused, DNS failure, TLS failure (the SDK itself only says "Connection error."
or "Request timed out.")."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import openai
import pytest

from shared.modelcall import describe


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A server that answers plain HTTP, so a TLS client's handshake fails."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed


async def failure(base_url: str, aiohttp_transport: bool) -> str:
    client = openai.AsyncOpenAI(api_key="sk-x", base_url=base_url, max_retries=0, timeout=10,
                                http_client=openai.DefaultAioHttpClient() if aiohttp_transport else None)
    try:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    except openai.APIConnectionError as exc:
        return describe(exc)
    finally:
        await client.close()
    raise AssertionError("the request succeeded")


@pytest.mark.parametrize("aiohttp_transport", [False, True], ids=["httpx", "aiohttp"])
def test_connection_failures_are_named(plain_http_port: int, aiohttp_transport: bool) -> None:
    port = closed_port()
    assert asyncio.run(failure(f"http://127.0.0.1:{port}/v1", aiohttp_transport)) == (
        f"connection refused to 127.0.0.1:{port}")
    assert asyncio.run(failure("http://no-such-host.invalid/v1", aiohttp_transport)).startswith(
        "DNS lookup failed for no-such-host.invalid")
    assert asyncio.run(failure(f"https://127.0.0.1:{plain_http_port}/v1", aiohttp_transport)).startswith(
        f"TLS handshake with 127.0.0.1:{plain_http_port} failed")
