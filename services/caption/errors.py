"""What a failed model call means for the clip: retry it, dead-letter it with the reason, or stop the stage.

408/409/429/5xx, connection errors, timeouts and unreadable bodies are worth retrying; 400/403/404/422
are the request's fault (BadInput: dead letter with the server's reason); 401 means the key is wrong,
so every clip would fail the same way (Fatal: stop the consumer instead of burning the queue).

Connection failures are named by what went wrong (connection refused, DNS, TLS, timeout) with the host,
and every retry is logged as "caption: retrying, <reason>, attempt N": the line `mira caption` shows on
its progress line while a clip waits on the model endpoint.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator

import openai

from shared.redact import redact
from shared.runtime.errors import BadInput, Fatal

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 429}


def fail_fast(exc: openai.APIStatusError) -> Exception:
    """The error to raise for a status that must not be retried."""
    return reject(exc.status_code, _error_message(exc))


def reject(status: int, message: str) -> Exception:
    if status == 401:
        return Fatal(f"the model endpoint rejected the API key (401: {message}); check OPENAI_API_KEY "
                     "and OPENAI_BASE_URL. Captioning stopped instead of failing every clip.")
    return BadInput(f"model request rejected ({status}): {message}")


def _error_message(exc: openai.APIStatusError) -> str:
    # The SDK keeps the "error" object of the body; a server may also send plain text. Servers echo the key
    # they were given in auth errors ("Incorrect API key provided: gsk_..."): never pass it on.
    message = exc.body.get("message") if isinstance(exc.body, dict) else None
    return redact(str(message or exc.message))[:300]


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUS or status >= 500


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return retryable_status(exc.status_code)
    return isinstance(exc, (openai.APIConnectionError, json.JSONDecodeError))


def describe(exc: BaseException | None) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"{exc.status_code} {_error_message(exc)}"
    if isinstance(exc, openai.APIConnectionError):
        return connection_problem(exc)
    return f"{type(exc).__name__}: {exc}"


def log_retry(exc: BaseException, attempt: int, delay_s: float) -> None:
    log.info("caption: retrying, %s, attempt %d (next in %.1fs)", describe(exc), attempt, delay_s)


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
