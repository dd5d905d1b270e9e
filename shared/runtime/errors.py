"""Outcomes a stage signals by raising; the runtime maps each to an action.

- BadInput: the message can never succeed (corrupt video, invalid manifest row): dead-letter it now.
- Fatal: the service cannot work at all (bad credentials): stop consuming, commit what is done, exit non-zero.
- Unavailable (and any failure shared.runtime.outage says is a dependency's): not the input's fault; retried
  for as long as the outage lasts, without counting against MIRA_MAX_ATTEMPTS, the stage paused meanwhile.
- anything else: retryable, with backoff, up to MIRA_MAX_ATTEMPTS, then dead-lettered.
"""

from __future__ import annotations


class BadInput(Exception):
    """Poison input: dead-letter with this reason, never retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fatal(Exception):
    """The service must stop: retrying or dead-lettering would burn the whole queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """Retryable, and the stage knows how long to wait (e.g. a 429 retry-after)."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


class Unavailable(Exception):
    """A dependency does not answer (a stage names which when the error alone cannot say it)."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason
