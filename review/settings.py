"""The review page's own settings, and who may open it. Loopback needs nothing; any other address needs
MIRA_API_TOKENS (the ingest API's tokens, read through IngestSettings, which also keeps them out of logs),
and the page then asks for one before it shows anything."""

from __future__ import annotations

from pydantic import Field

from services.ingest.settings import loopback
from shared.settings import MiraSettings


class ReviewConfigError(ValueError):
    """A setting the review page cannot start with; the message names it."""


class ReviewSettings(MiraSettings):
    review_page_size: int = Field(24, ge=1, le=500, description="Cards per gallery page.")


def login_required(host: str, tokens: tuple[str, ...]) -> bool:
    """True when the page must ask for a token; raises ReviewConfigError when it would have none to ask for."""
    if loopback(host):
        return False
    if not tokens:
        raise ReviewConfigError(
            f"MIRA_API_TOKENS must be set to serve the review page on {host} (beyond loopback), or bind 127.0.0.1"
        )
    return True
