"""The ingest API's request and response bodies: the pydantic models that validate requests and write
answers are the ones the OpenAPI document (services/ingest/openapi.py) is generated from, so the two cannot
drift apart."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.identity import ID_PATTERN
from shared.messages import CaptionStatus, ClipSubmission

ID = f"^{ID_PATTERN.pattern}$"


class ClipRequest(ClipSubmission):
    """One clip to caption: a time range of a source video."""

    video_id: str | None = Field(None, pattern=ID)
    clip_id: str | None = Field(None, pattern=ID, description="Kept as given; derived from the source and range "
                                                              "when left out.")
    request_id: str = Field("", pattern=f"^$|{ID}", description="Assigned by the API when left out.")


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AcceptedClip(Answer):
    clip_id: str
    job_id: str


class Accepted(Answer):
    """202: every clip of the request was checked and published, in this order."""

    request_id: str
    clips: list[AcceptedClip]


class ApiError(Answer):
    """Any 4xx: one line saying what was wrong, or (422 from the clip model) pydantic's list of errors."""

    error: str | list[dict[str, Any]]


Progress = Literal["in_progress", CaptionStatus]
Stage = Literal["ingest", "sink"]
STAGE_DESCRIPTION = ("The furthest stage the record store vouches for: `ingest` once the job is accepted, "
                     "`sink` once its record version is written (no stage in between is stored).")


class JobState(Answer):
    """Where a job is: accepted and on its way, or recorded (with the record's status and reason)."""

    job_id: str
    clip_id: str
    status: Progress = Field(description="`in_progress` until recorded, then the record's status.")
    stage: Stage = Field(description=STAGE_DESCRIPTION)
    version: int | None = Field(description="The record version this job wrote, once written.")
    reason: str | None = Field(description="Why the record is not a success (refused, truncated, failed).")


class ClipState(Answer):
    """A clip's newest record version, or its accepted job while none is written yet."""

    clip_id: str
    job_id: str = Field(description="The job of the newest version, or the clip's accepted job.")
    status: Progress = Field(description="`in_progress` until a version is recorded, then its status.")
    stage: Stage = Field(description=STAGE_DESCRIPTION)
    latest_version: int | None = Field(description="The clip's newest record version, once one is written.")
    reason: str | None = Field(description="Why the newest version is not a success.")
