"""Settings of the quality checks: read by the caption stage (which checks and repairs every answer) and by
`mira qa recheck` (which checks stored records again)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shared.qa.rules import DEFAULT_BOUNDS, FIELD_ORDER, Context
from shared.settings import MiraSettings


class QualitySettings(MiraSettings):
    caption_repair: Literal["once", "off"] = Field(
        "once", description="MIRA_CAPTION_REPAIR: ask a suspect answer again once, naming its problems, or not.")
    qa_word_bounds: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description='MIRA_QA_WORD_BOUNDS: words per part outside which a part is suspect, '
        'as JSON over the defaults, e.g. {"dense_caption": [40, 200]}.')
    qa_repeat_share: float = Field(
        0.2, gt=0, lt=1, description="Share of repeated 3-word sequences that makes a part a repetition loop.")

    @field_validator("qa_word_bounds")
    @classmethod
    def _known_parts(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for name, (low, high) in value.items():
            if name not in FIELD_ORDER:
                raise ValueError(f"unknown caption part {name!r}; known: {', '.join(FIELD_ORDER)}")
            if not 0 <= low <= high:
                raise ValueError(f"{name}: expected 0 <= fewest <= most words, got [{low}, {high}]")
        return value

    def context(self, hint: str | None, duplicate: str | None = None, language: str = "en") -> Context:
        return Context(hint=hint, language=language, bounds={**DEFAULT_BOUNDS, **self.qa_word_bounds},
                       repeat_share=self.qa_repeat_share, duplicate=duplicate)
