"""Which services a local pipeline runs: caption and sink only when a model endpoint is configured."""

from __future__ import annotations

from services import STAGES
from services.caption.settings import CaptionSettings

NO_MODEL_NOTE = ("no OPENAI_API_KEY or OPENAI_BASE_URL: clips are ingested, gridded and hinted, "
                 "but not captioned")


def model_configured() -> bool:
    return CaptionSettings().model_configured


def services_to_run() -> tuple[list[str], str | None]:
    if model_configured():
        return list(STAGES), None
    return [s for s in STAGES if s not in ("caption", "sink")], NO_MODEL_NOTE
