"""What happens to one message between its fetch and its commit: decoded, handled with retries and
backoff, its outputs published; poison input dead-lettered with the stage and the reason.

A failure that says a dependency is down (shared.runtime.outage) is waited out instead: retried without
counting an attempt for as long as the outage lasts. Outputs a handler returned are published with the same
patience and never handled again because the broker would not take them (that would pay a model twice).

A dead letter that cannot be written is retried with backoff too; if it still cannot be written the message
stays uncommitted and the service fails (unready, exit 1), because committing past it would lose it and
waiting forever would stall the partition's commits without anyone noticing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared import kafka
from shared.runtime import deadletter, outage
from shared.runtime.errors import BadInput, Fatal, RetryLater, Unavailable
from shared.runtime.lifecycle import describe
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outage import Outages
from shared.runtime.stage import Stage
from shared.settings import Settings

log = logging.getLogger(__name__)


def backoff(settings: Settings, attempt: int, after_s: float | None = None) -> float:
    """Seconds before try `attempt + 1`: what the failure asked for, else exponential with jitter."""
    if after_s is not None:
        return after_s
    ceiling = min(settings.retry_max_s, settings.retry_base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # jitter: replicas do not retry in lockstep


@dataclass
class Handling:
    stage: Stage
    settings: Settings
    metrics: RuntimeMetrics
    publish: Callable[[BaseModel], Awaitable[None]]
    fatal: Callable[[str], None]  # the service must stop: exit 2
    fail: Callable[[str], None]  # the service must be restarted: exit 1
    outages: Outages

    async def process(self, record: ConsumerRecord) -> bool:
        """Handle one record; True when it is finished (handled or dead-lettered) and may be committed."""
        began = time.monotonic()
        try:
            message = kafka.decode(self.stage.message, record.value)
        except ValidationError as exc:
            reason = f"invalid {self.stage.message.__name__}: {_brief(exc)}"
            outcome = await self._dead_letter(record, reason, "ValidationError")
        else:
            waited: dict[str, int] = {}  # dependency -> how often it had come back when this message last waited
            try:
                outcome = await self._handle_with_retries(record, message, waited)
            finally:
                for name in waited:
                    self.outages.leave(name)
        if outcome is None:
            return False  # fatal, or no dead letter could be written: leave it for whoever consumes next
        self.metrics.finished(outcome, time.monotonic() - began)
        return True

    async def _handle_with_retries(self, record: ConsumerRecord, message: BaseModel,
                                   waited: dict[str, int]) -> str | None:
        attempt = 0
        while True:
            try:
                out = await self.stage.handle(message)
                for name in waited:
                    self.outages.answered(name)
                for item in _as_list(out):
                    await self._publish(item, waited)
                return "ok"
            except BadInput as exc:
                return await self._dead_letter(record, exc.reason, "BadInput", message)
            except Fatal as exc:
                self.fatal(exc.reason)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - anything unexpected is retryable, then dead-lettered
                if await self._waited_out(exc, waited):
                    continue
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"
                if attempt >= self.settings.max_attempts:
                    return await self._dead_letter(record, f"gave up after {attempt} attempts: {reason}",
                                                   type(exc).__name__, message)
                self.metrics.retries.labels(self.stage.name).inc()
                delay = backoff(self.settings, attempt, exc.after_s if isinstance(exc, RetryLater) else None)
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs",
                            self.stage.name, attempt, reason, delay)
                await asyncio.sleep(delay)

    async def _waited_out(self, exc: Exception, waited: dict[str, int]) -> bool:
        """Whether `exc` was a dependency's outage, now waited out (the caller tries again, no attempt
        counted). A message that fails so again after the dependency came back for others counts it."""
        name = outage.dependency_down(exc)
        if name is None:
            return False
        comebacks = self.outages.comebacks(name)
        if name not in waited:
            self.outages.enter(name)
        elif waited[name] != comebacks:
            waited[name] = comebacks
            return False
        waited[name] = comebacks
        await self.outages.wait_turn(name, exc.reason if isinstance(exc, Unavailable) else describe(exc))
        return True

    async def _publish(self, item: BaseModel, waited: dict[str, int]) -> None:
        """Publish one output, waiting out a broker that does not take it; other failures propagate."""
        while True:
            try:
                await self.publish(item)
            except Exception as exc:
                if not await self._waited_out(exc, waited):
                    raise
                continue
            for name in waited:
                self.outages.answered(name)
            return

    async def _dead_letter(self, record: ConsumerRecord, reason: str, error_type: str,
                           message: BaseModel | None = None) -> str | None:
        """"dead_letter" once written; None, and the service fails, when it cannot be."""
        letter = deadletter.letter_for(self.stage.name, record, reason, error_type, message)
        log.warning("%s: dead-lettered offset %d of %s: %s", self.stage.name, record.offset, record.topic,
                    letter.reason)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.publish(letter)
                return "dead_letter"
            except Exception as exc:  # noqa: BLE001 - the broker, the topic or its permissions
                if attempt >= self.settings.max_attempts:
                    self.fail(f"cannot write dead letters ({describe(exc)}); offset {record.offset} of "
                              f"{record.topic} left uncommitted")
                    return None
                delay = backoff(self.settings, attempt)
                log.warning("%s: could not write the dead letter for offset %d of %s (attempt %d: %s); "
                            "retrying in %.1fs", self.stage.name, record.offset, record.topic, attempt,
                            describe(exc), delay)
                await asyncio.sleep(delay)


def _as_list(out: object) -> list[BaseModel]:
    if out is None:
        return []
    if isinstance(out, BaseModel):
        return [out]
    return list(out)  # type: ignore[call-overload]


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
