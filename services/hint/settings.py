"""Settings of the hint stage: where hints come from, in what order, and the hint model's own endpoint.

The hint model has its own base URL, key and model (MIRA_HINT_*), separate from the caption model's
OPENAI_* variables: it is usually a small, cheap captioner, often self-hosted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import MiraSettings

HintSourceName = Literal["manifest", "model", "none"]


class HintSettings(MiraSettings):
    hint_order: Annotated[tuple[HintSourceName, ...], NoDecode] = Field(
        ("manifest", "model", "none"),
        description='MIRA_HINT_ORDER: sources tried per clip, e.g. "manifest,model,none" or "none".')
    hint_base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the hint model.")
    hint_api_key: SecretStr | None = None
    hint_model: str = Field("gpt-4o-mini", description="A small vision model for one-sentence captions.")
    hint_max_words: int = Field(30, ge=3, description="Longer hints are cut to this many words.")
    hint_image_detail: Literal["high", "low", "auto"] = "low"
    hint_max_output_tokens: int = Field(80, ge=8)
    hint_timeout_s: float = Field(30.0, gt=0)
    hint_max_retries: int = Field(2, ge=0, description="SDK retries of 408/429/5xx before falling through.")
    hint_seed: int = Field(
        0, description="Sent with every hint request (at temperature 0), so a grid is described the same way.")

    @field_validator("hint_order", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):  # env form: "manifest,model,none", not JSON
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (tuple, list)) and not value:
            raise ValueError("MIRA_HINT_ORDER names no source; use e.g. 'manifest,model,none' or 'none'")
        return value

    @property
    def model_configured(self) -> bool:
        return self.hint_base_url is not None or self.hint_api_key is not None
