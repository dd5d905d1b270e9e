"""Who may open the review page. Loopback needs nothing; any other address needs MIRA_API_TOKENS (the
ingest API's tokens), and the page then asks for one before it shows anything."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from shared.settings import MiraSettings


class ReviewConfigError(ValueError):
    """A setting the review page cannot start with; the message names it."""


class ReviewSettings(MiraSettings):
    api_tokens: str | None = Field(None, description="Comma-separated tokens; required beyond loopback.")
    review_page_size: int = Field(24, ge=1, le=500, description="Cards per gallery page.")

    @property
    def tokens(self) -> list[str]:
        return [t.strip() for t in (self.api_tokens or "").split(",") if t.strip()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def login_required(host: str, settings: ReviewSettings) -> bool:
    """True when the page must ask for a token; raises ReviewConfigError when it would have none to ask for."""
    if is_loopback(host):
        return False
    if not settings.tokens:
        raise ReviewConfigError(
            f"MIRA_API_TOKENS must be set to serve the review page on {host} (beyond loopback)"
        )
    return True
