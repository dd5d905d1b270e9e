"""Settings of the caption stage: the model, the OpenAI endpoint, rate budgets, retries and the cost cap.

OPENAI_API_KEY and OPENAI_BASE_URL keep the SDK's own names (no MIRA_ prefix) so any OpenAI-compatible
server works the way its docs say; everything else is MIRA_<NAME>.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator

from shared.qa.settings import QualitySettings
from shared.settings import CaptionModelSetting


class CaptionSettings(QualitySettings, CaptionModelSetting):
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"))
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"))
    caption_rpm: int = Field(500, ge=1, description="Requests per minute this instance may send.")
    caption_tpm: int = Field(450_000, ge=1, description="Tokens per minute (prompt + image + max output).")
    caption_rate_headroom: float = Field(
        0.97, gt=0, le=1, description="Fraction of the budgets to plan for, so timing jitter causes no 429s.")
    caption_min_in_flight: int = Field(1, ge=1, description="Requests kept out however the controller cuts.")
    caption_max_in_flight: int = Field(
        2048, ge=1, le=20_000, description="Cap on concurrent model requests of one replica (and its HTTP "
        "connections); below it the number follows rate x latency and shrinks on 429s (concurrency.py).")
    caption_timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    caption_max_retries: int = Field(
        6, ge=0, description="Retries of 408/429/5xx/connection errors before handing back to the runtime.")
    caption_backoff_base_s: float = Field(1.0, gt=0)
    caption_backoff_max_s: float = Field(60.0, gt=0)
    caption_image_detail: Literal["high", "low", "auto"] = "high"
    caption_max_output_tokens: int = Field(
        1000, ge=64, description="~350 words of captions take ~500; rate limits count the whole limit.")
    caption_temperature: float | None = Field(None, ge=0, le=2, description="Unset: the server's default.")
    budget_usd: float | None = Field(
        None, ge=0, description="MIRA_BUDGET_USD: pause captioning once this much is spent; unset = no cap.")
    budget_file: Path | None = Field(
        None, description="A file holding a number of USD that overrides MIRA_BUDGET_USD, re-read while paused.")
    budget_poll_s: float = Field(5.0, gt=0, description="How often a paused stage re-reads the budget.")
    caption_claim_lease_s: float = Field(
        30.0, gt=0, description="A replica that died while asking a question loses its claim after this long.")
    caption_claim_poll_s: float = Field(
        1.0, gt=0, description="How often a delivery waiting for another replica's answer looks again.")
    caption_batch: bool = Field(False, description="MIRA_CAPTION_BATCH: send through the Batch API.")
    caption_batch_max_requests: int = Field(1000, ge=1, le=50_000)
    caption_batch_wait_s: float = Field(30.0, ge=0, description="Gather requests this long before submitting.")
    caption_batch_poll_s: float = Field(30.0, gt=0)
    caption_batch_discount: float = Field(0.5, gt=0, le=1, description="Batch price as a fraction of live.")

    @model_validator(mode="after")
    def _bounds(self) -> CaptionSettings:
        if self.caption_min_in_flight > self.caption_max_in_flight:
            raise ValueError("MIRA_CAPTION_MIN_IN_FLIGHT must not exceed MIRA_CAPTION_MAX_IN_FLIGHT")
        if self.caption_backoff_base_s > self.caption_backoff_max_s:
            raise ValueError("MIRA_CAPTION_BACKOFF_BASE_S must not exceed MIRA_CAPTION_BACKOFF_MAX_S")
        return self

    @property
    def model_configured(self) -> bool:
        """Whether a real model endpoint is configured (a key, or a base URL of a keyless local server)."""
        return self.openai_api_key is not None or self.openai_base_url is not None
