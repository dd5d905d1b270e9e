"""What the caption and hint stages both need from a call to an OpenAI-compatible model: the client (with
a placeholder key for servers that take none), the grid as a data URL, and a failure described in words a
user can act on (status and the server's message with secrets removed; connection failures named by what
went wrong: connection refused, DNS, TLS, timeout, with the host).
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import openai
from pydantic import SecretStr

from shared.redact import redact

NO_KEY = "unused"  # the SDK insists on a key; local servers (vLLM, the tests' server) ignore it


def client(key: SecretStr | None, base_url: str | None, timeout_s: float, max_retries: int,
           **extra: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key.get_secret_value() if key else NO_KEY, base_url=base_url,
                              timeout=timeout_s, max_retries=max_retries, **extra)


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def error_message(exc: openai.APIStatusError) -> str:
    # The SDK keeps the "error" object of the body; a server may also send plain text. Servers echo the key
    # they were given in auth errors ("Incorrect API key provided: gsk_..."): never pass it on.
    message = exc.body.get("message") if isinstance(exc.body, dict) else None
    return redact(str(message or exc.message))[:300]


def describe(exc: BaseException | None) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"{exc.status_code} {error_message(exc)}"
    if isinstance(exc, openai.APIConnectionError):
        return connection_problem(exc)
    return f"{type(exc).__name__}: {exc}"


def connection_problem(exc: openai.APIConnectionError) -> str:
    """"connection refused to 127.0.0.1:9", "DNS lookup failed for api.example (...)", "TLS ...": what the
    SDK's own "Connection error." leaves to its chained causes."""
    url = exc.request.url
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    for cause in _causes(exc):  # first: some transports report every failed connect as a timeout
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {url.host} ({cause.strerror})"
        # (aiohttp's wrappers are SSL errors too, without the details: the error they wrap comes next)
        if isinstance(cause, ssl.SSLCertVerificationError) and getattr(cause, "verify_message", None):
            return f"TLS certificate of {where} not accepted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None):
            return f"TLS handshake with {where} failed ({cause.reason})"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused to {where}"
    if isinstance(exc, openai.APITimeoutError):
        return f"timed out waiting for {where}"
    return f"cannot connect to {where} ({exc.__cause__ or exc})"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(10):  # the SDK wraps httpx, which wraps httpcore, which wraps the socket error
        seen = seen.__cause__ or seen.__context__ if seen else None
        if seen is None:
            return
        yield seen
