"""One frozen pydantic model per topic. Every message carries `schema_version` so consumers can refuse
what they do not understand; unknown fields are rejected (extra="forbid") and dead-lettered.

Each stage owns one small part (ClipSpan, VideoInfo, GridInfo, Hint, Captions, Usage). The messages along
the main line are a deliberately growing envelope (ClipJob -> GridReady -> HintReady -> CaptionResult, each
adding its stage's part) rather than a job id plus the newest part, because:
- the sink writes one self-contained record per outcome and needs every part; a join against earlier topics
  or a side store would make it stateful and order-dependent;
- a redelivered or recaptioned message carries all it needs, so any replica can handle it without a lookup;
- the whole envelope is a few hundred bytes (the grid itself stays in the blob store).
So every field a stage reads is declared on its input type (or inherited from the one before it), and what a
stage adds is exactly the fields its output class declares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.redact import PublicUri, Redacted, public_uri

SCHEMA_VERSION: Literal[1] = 1

# "caption_model": no hint source gave a short caption, so the caption model wrote it in the same call.
HintSource = Literal["manifest", "model", "none", "caption_model"]
CaptionStatus = Literal["success", "truncated", "refused", "failed"]
Quality = Literal["ok", "suspect"]
# What one repair did: its answer was kept and passes every rule, was kept with fewer problems, or was no
# better than the first answer (or unusable), which was kept.
RepairOutcome = Literal["repaired", "improved", "kept_first"]
Verdict = Literal["accepted", "rejected"]
SampleMode = Literal["auto", "exact", "keyframe"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Part):
    schema_version: Literal[1] = SCHEMA_VERSION


class JobOptions(Part):
    """Overrides a job carries through the pipeline (set by recaption requests)."""

    model: str | None = None


class ClipSpan(Part):
    """Which clip: a time range of one source video. `end_s` None means the end of the file."""

    clip_id: str
    video_id: str
    source_uri: str
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = None


class ClipSubmission(Message):
    """A clip offered to ingest, before it has an id. Topic: submissions."""

    source: str  # local path, file://, http(s):// or s3:// URI
    start_s: float | None = Field(None, ge=0)
    end_s: float | None = Field(None, ge=0)
    video_id: str | None = None
    clip_id: str | None = None  # kept when a manifest names its clips (MiraData clip_id)
    hint: str | None = None  # short caption from the manifest (Panda-70M rows carry one)
    request_id: str
    split: bool | None = None  # cut a whole video at its shot boundaries: None leaves it to MIRA_SPLIT


class ClipJob(Message):
    """Topic: clips. One clip to render, hint and caption."""

    job_id: str
    request_id: str
    clip: ClipSpan
    manifest_hint: str | None = None
    options: JobOptions = JobOptions()


class VideoJob(ClipJob):
    """Topic: videos. A whole video for split to cut into clips at its shot boundaries (`auto`: only when it
    is longer than MIRA_CLIP_MAX_S; shorter ones go on whole, as the same clip job)."""

    split: Literal["auto", "always"] = "auto"


class Cut(Part):
    """One shot boundary: where one shot ends and the next begins (a fade's or dissolve's middle)."""

    time_s: float
    kind: Literal["cut", "fade", "dissolve"]
    start_s: float  # the transition's extent (equal to time_s for a hard cut)
    end_s: float


class SplitClip(Part):
    clip_id: str
    job_id: str
    start_s: float
    end_s: float


class DroppedShot(Part):
    start_s: float
    end_s: float
    reason: str


class CutList(Message):
    """Topic: cuts. What split made of one video: its boundaries, the clip jobs it published and the shots
    it dropped. `complete` is False when the video became unreadable part-way (`reason`): the clips before
    that were published, the rest of the video is dead-lettered."""

    job_id: str  # the whole video's job
    request_id: str
    video_id: str
    source_uri: PublicUri
    duration_s: float
    cuts: list[Cut]
    clips: list[SplitClip]
    dropped: list[DroppedShot]
    complete: bool = True
    reason: Redacted | None = None


class VideoInfo(Part):
    """What the decoder found. `duration_s` is the clip's duration (the range actually covered)."""

    fps: float
    width: int
    height: int
    duration_s: float
    codec: str = ""


class GridInfo(Part):
    uri: str
    sha256: str
    width: int
    height: int
    frame_times_s: list[float]
    sample_mode: SampleMode
    image_tokens: int  # what the caption model is expected to bill for this image


class GridReady(ClipJob):
    """Topic: grids. The clip's 2x4 grid is stored and described.

    From here on the source is named by its public form: credentials in its URL (a presigned query) were
    needed to read it, which framegrid has done, and must not travel further or be stored."""

    video: VideoInfo
    grid: GridInfo

    @model_validator(mode="before")
    @classmethod
    def _public_source(cls, data: object) -> object:
        clip = data.get("clip") if isinstance(data, dict) else None
        if isinstance(clip, ClipSpan):
            clip = clip.model_dump()
        if isinstance(clip, dict) and isinstance(clip.get("source_uri"), str):
            data = {**data, "clip": {**clip, "source_uri": public_uri(clip["source_uri"])}}  # type: ignore[dict-item]
        return data


class Hint(Part):
    text: str | None
    source: HintSource

    def capped(self, limit: int) -> Hint:
        return self if self.text is None or len(self.text) <= limit else Hint(
            text=cap_hint(self.text, limit), source=self.source)


def cap_hint(text: str | None, limit: int) -> str | None:
    """`text` cut to `limit` characters, at a word boundary where there is one (MIRA_MAX_HINT_CHARS): a hint
    goes into every caption prompt, so its length is paid for on every call."""
    if text is None or len(text) <= limit:
        return text
    cut = text[:limit]
    return (cut.rsplit(None, 1)[0] if " " in cut.strip() else cut).rstrip()


class HintReady(GridReady):
    """Topic: hinted. Ready for the caption model."""

    hint: Hint


GPT_PARTS = ("dense_caption", "main_object_caption", "background_caption", "camera_caption", "style_caption")


class Captions(Part):
    """The five GPT-written caption types of MiraData; the sixth, short_caption, is the hint, or written by
    the caption model in the same call when no hint source gave one (then set here)."""

    dense_caption: str
    main_object_caption: str
    background_caption: str
    camera_caption: str
    style_caption: str
    short_caption: str | None = None

    def parts(self) -> dict[str, str]:
        """The model-written parts by column name (short_caption only when the model wrote it)."""
        out = {name: getattr(self, name) for name in GPT_PARTS}
        return out if self.short_caption is None else {"short_caption": self.short_caption, **out}


class QualityReason(Part):
    """Why a caption answer is suspect: the rule, the part it found the problem in, and a one-line detail
    that quotes the offending words ("talks about the grid: \"across the eight frames\"")."""

    rule: str
    field: str
    detail: str


class Usage(Part):
    input_tokens: int = 0
    image_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class CaptionResult(HintReady):
    """Topic: captions. One model outcome for one job; `captions` is None unless status is success."""

    status: CaptionStatus
    reason: Redacted | None = None
    captions: Captions | None = None
    model: str
    prompt_version: str
    usage: Usage = Usage()  # every call this delivery paid for (a repair included)
    quality: Quality | None = None  # None: not checked (results of a Mira without quality checks)
    quality_reasons: list[QualityReason] = []
    repair: RepairOutcome | None = None  # None: no repair was asked
    repair_reasons: list[QualityReason] = []  # what the repair was asked to fix


class CaptionRecord(Part):
    """One immutable version of a clip's captions: the row the sink stores and publishes (topic: records).

    Column names follow MiraData's released meta files, plus ours.
    """

    clip_id: str
    video_id: str
    source_uri: PublicUri
    start_s: float
    end_s: float
    fps: float
    width: int
    height: int
    duration_s: float
    short_caption: str | None
    dense_caption: str | None
    main_object_caption: str | None
    background_caption: str | None
    camera_caption: str | None
    style_caption: str | None
    version: int
    status: CaptionStatus
    reason: Redacted | None
    model: str
    prompt_version: str
    hint_source: HintSource
    frame_times_s: list[float]
    grid_uri: str
    grid_sha256: str
    input_tokens: int
    image_tokens: int
    output_tokens: int
    cost_usd: float
    created_at: datetime
    job_id: str
    request_id: str
    # Quality (null for versions written before the checks existed, until `mira qa recheck`), the repair,
    # a hash of the dense caption (the duplicate rule's index) and a reviewer's verdict on this version.
    quality: Quality | None = None
    quality_reasons: list[QualityReason] | None = None
    repair: RepairOutcome | None = None
    repair_reasons: list[QualityReason] | None = None
    text_hash: str | None = None
    verdict: Verdict | None = None
    verdict_by: str | None = None
    verdict_at: datetime | None = None

    def as_captions(self) -> Captions | None:
        if self.status != "success":
            return None
        short = self.short_caption if self.hint_source == "caption_model" else None
        return Captions(**{name: getattr(self, name) for name in GPT_PARTS}, short_caption=short)


class RecaptionRequest(Message):
    """Topic: recaption. Any system may publish one; selectors combine with AND, `all` selects everything.

    Publishing the same request (same request_id) twice creates no extra versions.
    """

    request_id: str
    all: bool = False
    clip_ids: list[str] = []
    prompt_version_not: str | None = None
    model_is: str | None = None
    status_in: list[CaptionStatus] = []
    created_before: datetime | None = None
    quality: Quality | None = None
    rule: str | None = None  # newest versions that a quality rule of this name flagged
    verdict: Verdict | None = None
    model: str | None = None  # model to caption with; None keeps the configured default
    rerender_grids: bool = False


class DeadLetter(Message):
    """Topic: dead-letters. `payload` is the original message bytes, decoded as UTF-8 with replacement.
    Reason and payload are redacted (shared.redact): a letter is read by people and kept for long."""

    stage: str
    reason: Redacted
    error_type: str
    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    job_id: str | None = None
    clip_id: str | None = None
    payload: Redacted
    failed_at: datetime = Field(default_factory=utcnow)
