"""Secrets never reach a log line, an error or a dead letter, and credentials never reach a stored URI.

Secrets leak through text Mira does not write itself: a model server echoing the key it was sent in a 401,
FFmpeg or a database driver naming the URL it failed on. Guessing keys by their prefix misses every
provider whose prefix is not on the list (gsk_..., plain hex keys), so the values that are configured are
masked themselves, in the forms they are echoed in (as given, URL-encoded, JSON-escaped, or the first
characters of a key a server abbreviates). Known key shapes are masked as well, for keys Mira was never
given (a caller's typo'd key in an upstream error).

URLs lose their credentials the same way wherever they appear: the user:password part, and query
parameters that carry tokens (presigned S3/GCS/Azure signatures, access_token=...). `public_uri` is also
the form of a source stored in records, topics after framegrid, dead letters and exports; the original is
only carried to the stage that reads the source.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Annotated
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import AfterValidator

MASK = "***"
# Each of these environment variables holds one secret value.
SECRET_ENV = ("OPENAI_API_KEY", "MIRA_HINT_API_KEY", "MIRA_KAFKA_SASL_PASSWORD", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN")
LIST_ENV = ("MIRA_API_TOKENS",)  # comma-separated secrets
URL_ENV = ("MIRA_DATABASE_URL",)  # a URL whose password is secret
# Shorter values would mask ordinary words; nobody configures a 3-character key.
_MIN_SECRET = 4
# A key a server abbreviates ("gsk_AbCdEfGh****wxyz") still starts with this many of its characters.
_ECHO_PREFIX = 8
# Key shapes of common providers: a known prefix, then a long run with at least one digit (so "key_frame"
# and "sk-learn" stay readable).
_KEY_SHAPES = re.compile(r"\b(sk|gsk|key|hk|xai)([-_])(?=[\w*.-]*\d)[\w*.-]{8,}")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>\\`]+")
# Query parameter names that carry credentials (matched lower-cased, as substrings or exactly).
_SECRET_PARAM_PARTS = ("token", "signature", "secret", "password", "passwd", "auth", "credential", "key",
                       "session", "x-amz-", "x-goog-")
_SECRET_PARAMS = {"sig", "se", "st", "sp", "sv", "sr", "ss", "srt", "spr", "skoid", "sktid", "skt", "ske",
                  "sks", "skv", "expires", "policy", "pwd", "hmac", "code"}

_registered: set[str] = set()
_compiled: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def register(*values: str | None) -> None:
    """Secrets configured some other way than the environment (settings built in code)."""
    _registered.update(v.strip() for v in values if v and len(v.strip()) >= _MIN_SECRET)


def secret_values() -> frozenset[str]:
    """Every configured secret: the environment's, read now (it may change in tests), and registered ones."""
    found = set(_registered)
    for name in SECRET_ENV:
        found.add(os.environ.get(name, "").strip())
    for name in LIST_ENV:
        found.update(part.strip() for part in os.environ.get(name, "").split(","))
    for name in URL_ENV:
        found.add(unquote(urlsplit(os.environ.get(name, "")).password or ""))
    return frozenset(v for v in found if len(v) >= _MIN_SECRET)


def redact(text: str) -> str:
    """`text` with configured secrets, key-shaped tokens and URL credentials masked."""
    if not text:
        return text
    pattern = _secret_pattern(secret_values())
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _KEY_SHAPES.sub(rf"\1\2{MASK}", text)
    return _URL.sub(lambda m: public_uri(m.group(0)), text)


def public_uri(uri: str) -> str:
    """`uri` without user:password and without query parameters that carry credentials; other parameters
    (which may name the object) and plain paths stay as they are."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if not parts.scheme or not parts.netloc:
        return uri
    host = parts.netloc.rpartition("@")[2]
    kept = [p for p in parts.query.split("&") if p and not _secret_param(unquote(p.partition("=")[0]))]
    return urlunsplit((parts.scheme, host, parts.path, "&".join(kept), ""))


Redacted = Annotated[str, AfterValidator(redact)]
PublicUri = Annotated[str, AfterValidator(public_uri)]


def _secret_param(name: str) -> bool:
    name = name.strip().lower()
    return name in _SECRET_PARAMS or any(part in name for part in _SECRET_PARAM_PARTS)


def _secret_pattern(values: frozenset[str]) -> re.Pattern[str] | None:
    global _compiled
    if _compiled[0] == values:
        return _compiled[1]
    forms: set[str] = set()
    for value in values:
        forms.update({value, quote(value, safe=""), json.dumps(value)[1:-1]})
    alternatives = [re.escape(f) for f in sorted(forms, key=len, reverse=True)]
    alternatives += [re.escape(v[:_ECHO_PREFIX]) + r"[\w*.-]*" for v in values if len(v) >= 2 * _ECHO_PREFIX]
    pattern = re.compile("|".join(alternatives)) if alternatives else None
    _compiled = (values, pattern)
    return pattern


class RedactingFilter(logging.Filter):
    """Masks the whole formatted record (message, arguments, traceback, stack) before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Redact everything the root logger's handlers write, and uncaught tracebacks too."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    sys.excepthook = _excepthook


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))
