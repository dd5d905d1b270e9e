"""What a failed model call means for the clip: retry it, dead-letter it with the reason, or stop the stage.

408/409/429/5xx, connection errors, timeouts and unreadable bodies are worth retrying; 400/403/404/422
are the request's fault (BadInput: dead letter with the server's reason); 401 means the key is wrong,
so every clip would fail the same way (Fatal: stop the consumer instead of burning the queue).
"""

from __future__ import annotations

import json

import openai

from shared.redact import redact
from shared.runtime.errors import BadInput, Fatal

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
    return f"{type(exc).__name__}: {exc}"
