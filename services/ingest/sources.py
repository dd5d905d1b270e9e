"""Turning what users point at (paths, folders, URLs, manifests) into clip submissions and clip jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from services.ingest.identity import check_id
from shared import ids
from shared.messages import ClipJob, ClipSpan, ClipSubmission, VideoJob, cap_hint
from shared.redact import public_uri
from shared.runtime.errors import BadInput

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}
REMOTE_SCHEMES = {"http", "https", "s3"}


def normalize_uri(source: str) -> str:
    """Local paths become absolute file:// URIs so the same file always gets the same clip id."""
    scheme = urlparse(source).scheme
    if scheme in REMOTE_SCHEMES or scheme == "file":
        return source
    if scheme and len(scheme) > 1:
        raise BadInput(f"unsupported source scheme {scheme!r} in {source!r} (use a path, file://, http(s):// or s3://)")
    try:
        return Path(source).expanduser().resolve().as_uri()
    except ValueError as exc:  # a NUL byte, or text no file name can hold (an unpaired surrogate)
        raise BadInput(f"source {source[:40]!r} is not a usable path ({exc})") from None


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def expand_paths(paths: Iterable[str], request_id: str, skipped: list[str] | None = None) -> Iterator[ClipSubmission]:
    """Files and URLs as given; folders walked (sorted) for video files. Other files found in a folder are
    named in `skipped`, with the reason, when a list is given."""
    for raw in paths:
        path = Path(raw).expanduser()
        if urlparse(raw).scheme in REMOTE_SCHEMES or not path.is_dir():
            yield ClipSubmission(source=raw, request_id=request_id)
            continue
        for child in sorted(path.rglob("*")):
            if not child.is_file():
                continue
            if child.suffix.lower() in VIDEO_SUFFIXES:
                yield ClipSubmission(source=str(child), request_id=request_id)
            elif skipped is not None and not child.name.startswith("."):
                kind = child.suffix or "no suffix"
                skipped.append(f"{child}: not a video file name ({kind}); name the file itself to caption it")


def to_job(sub: ClipSubmission, max_hint_chars: int | None = None) -> ClipJob:
    """Give a submission its deterministic ids; resubmitting the same clip yields the same job. Ids derive
    from the source's public form, so a presigned URL signed again names the same clip; the job still carries
    the URL as given, which framegrid needs to read it."""
    if sub.end_s is not None and sub.end_s <= (sub.start_s or 0.0):
        raise BadInput(f"clip range is empty: start {sub.start_s}s, end {sub.end_s}s")
    check_id("clip_id", sub.clip_id)
    check_id("video_id", sub.video_id)
    uri = normalize_uri(sub.source)
    public = public_uri(uri)
    clip_id = sub.clip_id or ids.clip_id_for(public, sub.start_s, sub.end_s)
    clip = ClipSpan(
        clip_id=clip_id,
        video_id=sub.video_id or ids.video_id_for(public),
        source_uri=uri,
        start_s=sub.start_s or 0.0,
        end_s=sub.end_s,
    )
    hint = (sub.hint or "").strip() or None
    hint = hint if max_hint_chars is None else cap_hint(hint, max_hint_chars)  # ingest cuts, callers may not
    return ClipJob(job_id=ids.first_job_id(clip_id), request_id=sub.request_id, clip=clip, manifest_hint=hint)


def routed(sub: ClipSubmission, job: ClipJob, split: str) -> ClipJob:
    """The job as framegrid takes it, or as a VideoJob for split: a whole video (no time range) unless the
    submission or MIRA_SPLIT (`split`) says off. A caller's range is their clip and is never cut."""
    mode = {True: "always", False: "off", None: split}[sub.split]
    if mode == "off" or sub.start_s is not None or sub.end_s is not None:
        return job
    return VideoJob(**job.model_dump(), split=mode)
