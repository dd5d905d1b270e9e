"""Which clips a recaption request selects, and the job that recaptions each one."""

from __future__ import annotations

from collections.abc import Iterator

from shared import ids
from shared.messages import CaptionRecord, ClipJob, ClipSpan, JobOptions, RecaptionRequest
from shared.runtime.errors import BadInput
from shared.store.records import RecordStore


def selected(store: RecordStore, request: RecaptionRequest) -> Iterator[CaptionRecord]:
    """The newest version of every clip the request selects (selectors combine with AND)."""
    narrowed = bool(request.clip_ids or request.prompt_version_not or request.model_is or request.status_in
                    or request.created_before or request.quality or request.rule or request.verdict)
    if not (request.all or narrowed):
        raise BadInput("the request selects nothing: set all=true or at least one selector")
    return store.select(clip_ids=request.clip_ids, prompt_version_not=request.prompt_version_not,
                        model_is=request.model_is, status_in=request.status_in,
                        created_before=request.created_before, quality_is=request.quality, rule=request.rule,
                        verdict=request.verdict)


def job_for(record: CaptionRecord, request: RecaptionRequest) -> ClipJob:
    """The same request always yields the same job id, so publishing it twice creates no extra versions."""
    clip = ClipSpan(clip_id=record.clip_id, video_id=record.video_id, source_uri=record.source_uri,
                    start_s=record.start_s, end_s=record.end_s)
    return ClipJob(
        job_id=ids.recaption_job_id(request.request_id, record.clip_id), request_id=request.request_id,
        clip=clip, manifest_hint=record.short_caption if record.hint_source == "manifest" else None,
        options=JobOptions(model=request.model),
    )
