"""Ingest settings: the watched folder, and the HTTP API's listener, tokens and limits.

The API decides what the pipeline reads and pays to caption, so it listens on loopback unless told
otherwise, and refuses to start beyond loopback without bearer tokens (one line at start-up, exit 2).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shared import redact
from shared.settings import SplitModeSetting


class IngestSettings(SplitModeSetting):
    ingest_watch_dir: Path | None = Field(None, description="Folder watched for new video files.")
    ingest_watch_interval_s: float = Field(2.0, gt=0)
    api_host: str = Field("127.0.0.1", description="Address of the API's own listener (not health's).")
    api_port: int = Field(8081, ge=0, le=65535, description="POST /v1/clips; 0 picks a free port.")
    api_tokens: SecretStr | None = Field(
        None, description="Comma-separated bearer tokens; required when MIRA_API_HOST is beyond loopback.")
    api_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    api_max_clips: int = Field(1000, ge=1, description="Clips one request may carry; more gets 413.")
    api_rate_per_s: float = Field(10.0, gt=0, description="Requests per second each token may make (average).")
    api_rate_burst: int = Field(50, ge=1, description="Requests a token may make at once after a quiet spell.")

    @model_validator(mode="after")
    def _tokens_beyond_loopback(self) -> IngestSettings:
        redact.register(*self.tokens())
        if not self.tokens() and not loopback(self.api_host):
            raise ValueError(f"MIRA_API_HOST={self.api_host} listens beyond loopback but MIRA_API_TOKENS is "
                             "empty: set bearer tokens, or bind 127.0.0.1")
        return self

    def tokens(self) -> tuple[str, ...]:
        raw = self.api_tokens.get_secret_value() if self.api_tokens else ""
        return tuple(t.strip() for t in raw.split(",") if t.strip())


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere
