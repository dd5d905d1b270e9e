"""Deterministic ids. Every id is derived from its parent so that redelivered or resubmitted work maps to
the same key (the basis of idempotency everywhere downstream)."""

from __future__ import annotations

import hashlib


def digest(*parts: object, length: int = 16) -> str:
    h = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode())
    return h.hexdigest()[:length]


def clip_id_for(source_uri: str, start_s: float | None, end_s: float | None) -> str:
    """Same source and range -> same clip id, whichever path submitted it."""
    return digest("clip", source_uri, _t(start_s or 0.0), _t(end_s))


def video_id_for(source_uri: str) -> str:
    return digest("video", source_uri, length=12)


def first_job_id(clip_id: str) -> str:
    """The job that first captions a clip; resubmitting the clip yields the same job."""
    return digest("job", clip_id)


def recaption_job_id(request_id: str, clip_id: str) -> str:
    return digest("job", request_id, clip_id)


def _t(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds:.3f}"
