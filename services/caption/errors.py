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

import openai

from shared.modelcall import describe, error_message
from shared.runtime.errors import BadInput, Fatal

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 429}


def fail_fast(exc: openai.APIStatusError) -> Exception:
    """The error to raise for a status that must not be retried."""
    return reject(exc.status_code, error_message(exc))


def reject(status: int, message: str) -> Exception:
    if status == 401:
        return Fatal(f"the model endpoint rejected the API key (401: {message}); check OPENAI_API_KEY "
                     "and OPENAI_BASE_URL. Captioning stopped instead of failing every clip.")
    return BadInput(f"model request rejected ({status}): {message}")


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUS or status >= 500


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return retryable_status(exc.status_code)
    return isinstance(exc, (openai.APIConnectionError, json.JSONDecodeError))


def log_retry(exc: BaseException, attempt: int, delay_s: float) -> None:
    log.info("caption: retrying, %s, attempt %d (next in %.1fs)", describe(exc), attempt, delay_s)


