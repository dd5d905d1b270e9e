"""What a caption result becomes when the sink records it: one flat CaptionRecord (the stored row)."""

from __future__ import annotations

from datetime import datetime

from shared.messages import GPT_PARTS, CaptionRecord, CaptionResult
from shared.qa.rules import text_hash

_NO_CAPTIONS = dict.fromkeys(GPT_PARTS)


def to_record(result: CaptionResult, version: int, created_at: datetime) -> CaptionRecord:
    """The record a caption result becomes; a clip with an open end ends where the decoder found it ended.
    With no hint, a short caption the caption model wrote is the record's, and its hint source says so."""
    clip, caps = result.clip, result.captions
    short, hint_source = result.hint.text, result.hint.source
    if short is None and caps is not None and caps.short_caption:
        short, hint_source = caps.short_caption, "caption_model"
    checked = result.quality is not None
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
        short_caption=short,
        **({name: getattr(caps, name) for name in GPT_PARTS} if caps else _NO_CAPTIONS),
        version=version,
        status=result.status,
        reason=result.reason,
        model=result.model,
        prompt_version=result.prompt_version,
        hint_source=hint_source,
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
        quality=result.quality,
        quality_reasons=list(result.quality_reasons) if checked else None,
        repair=result.repair,
        repair_reasons=list(result.repair_reasons) if result.repair else None,
        text_hash=text_hash(caps.dense_caption) if caps else None,
    )
