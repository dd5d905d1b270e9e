"""What a caption result becomes when the sink records it: one flat CaptionRecord (the stored row)."""

from __future__ import annotations

from datetime import datetime

from shared.messages import CaptionRecord, CaptionResult, Captions

_NO_CAPTIONS = dict.fromkeys(Captions.model_fields)


def to_record(result: CaptionResult, version: int, created_at: datetime) -> CaptionRecord:
    """The record a caption result becomes; a clip with an open end ends where the decoder found it ended."""
    clip = result.clip
    captions = result.captions.model_dump() if result.captions else _NO_CAPTIONS
    return CaptionRecord(
        clip_id=clip.clip_id,
        video_id=clip.video_id,
        source_uri=clip.source_uri,
        start_s=clip.start_s,
        end_s=clip.end_s if clip.end_s is not None else clip.start_s + result.video.duration_s,
        fps=result.video.fps,
        width=result.video.width,
        height=result.video.height,
        duration_s=result.video.duration_s,
        short_caption=result.hint.text,
        **captions,
        version=version,
        status=result.status,
        reason=result.reason,
        model=result.model,
        prompt_version=result.prompt_version,
        hint_source=result.hint.source,
        frame_times_s=result.grid.frame_times_s,
        grid_uri=result.grid.uri,
        grid_sha256=result.grid.sha256,
        input_tokens=result.usage.input_tokens,
        image_tokens=result.usage.image_tokens,
        output_tokens=result.usage.output_tokens,
        cost_usd=result.usage.cost_usd,
        created_at=created_at,
        job_id=result.job_id,
        request_id=result.request_id,
    )
