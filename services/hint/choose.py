"""Chooses each clip's hint: the manifest's short caption, the hint model's sentence, or none, trying the
sources in MIRA_HINT_ORDER and taking the first that gives one.

A hint is optional (MiraData found captions nearly as good without), so a hint model that fails for one
clip (a refusal, a rejected request) falls through to the next source instead of holding the clip back. A
failure that would hit every clip is not a clip's: a rejected key (401/403) stops the stage, and an endpoint
that does not answer (refused or reset connections, timeouts, 429 and 5xx after the SDK's retries) is an
outage the runtime waits out, the stage paused, rather than let clips silently lose their hints meanwhile.

A model-made hint is kept in the record store by grid sha256 and the hint request's fingerprint: a
redelivered grid gets the same sentence without a second hint call, so the caption question stays the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import openai
from sqlalchemy.engine import Engine

from services.hint.settings import HintSettings
from services.hint.vlm import HintModel
from shared import ids
from shared.messages import Hint
from shared.modelcall import describe
from shared.runtime import outage
from shared.runtime.errors import Fatal, Unavailable
from shared.store import hints
from shared.writebehind import WriteBehind

log = logging.getLogger(__name__)


class HintChooser:
    def __init__(self, settings: HintSettings, load_grid: Callable[[str], Awaitable[bytes]],
                 model: HintModel | None = None, store: Engine | None = None) -> None:
        self.s = settings
        self.load_grid = load_grid  # grid URI -> JPEG bytes (the blob store's get)
        self.store = store  # where model-made hints are kept; None asks the model every time
        wants_model = "model" in settings.hint_order and settings.model_configured
        self.model = model or (HintModel(settings) if wants_model else None)
        self.fell_through = 0  # model failures that fell through to the next source
        self._asking: dict[str, asyncio.Future[str | None]] = {}  # hint key -> the one call asking it
        # Hints the model gave while the store was down, kept until it takes them (never asked for again).
        self.unkept: WriteBehind[str] = WriteBehind(self._keep, "a hint the model gave")

    async def aclose(self) -> None:
        await self.unkept.aclose()
        if self.model is not None:
            await self.model.aclose()

    async def choose(self, manifest_hint: str | None, grid_uri: str, grid_sha256: str | None = None) -> Hint:
        for source in self.s.hint_order:
            if source == "none":
                break
            if source == "manifest":
                given = " ".join((manifest_hint or "").split())
                if given:
                    return Hint(text=given, source="manifest")
            elif self.model is not None:
                text = await self._stored_or_asked(grid_uri, grid_sha256)
                if text:
                    return Hint(text=text, source="model")
        return Hint(text=None, source="none")

    async def _stored_or_asked(self, grid_uri: str, grid_sha256: str | None) -> str | None:
        if self.store is None or grid_sha256 is None or self.model is None:
            return await self._from_model(grid_uri)
        key = ids.digest("hint", grid_sha256, self.model.fingerprint, length=64)
        if (unkept := self.unkept.get(key)) is not None:
            return unkept
        if (kept := await asyncio.to_thread(hints.stored, self.store, key)) is not None:
            return kept
        # Deliveries of one grid in flight together share one call (the store only helps those that come
        # after it answered); shielded, so a cancelled delivery does not cancel the others' answer.
        flight = self._asking.get(key)
        if flight is None:
            flight = self._asking[key] = asyncio.ensure_future(self._ask_and_keep(grid_uri, key))
            flight.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(flight)

    async def _ask_and_keep(self, grid_uri: str, key: str) -> str | None:
        text = await self._from_model(grid_uri)
        if text is None:
            return None
        try:
            return await asyncio.to_thread(self._keep, key, text)  # the first writer's hint wins
        except Exception as exc:
            if outage.dependency_down(exc) is None:
                raise
            await self.unkept.keep(key, text)
            return text

    def _keep(self, key: str, text: str) -> str:
        assert self.store is not None
        return hints.keep(self.store, key, text)

    async def _from_model(self, grid_uri: str) -> str | None:
        try:
            return await self.model.describe(await self.load_grid(grid_uri)) if self.model else None
        except openai.APIError as exc:  # statuses, connection errors, timeouts (after the SDK's retries)
            if isinstance(exc, openai.APIStatusError) and exc.status_code in (401, 403):
                raise Fatal(f"the hint model endpoint rejected MIRA_HINT_API_KEY ({exc.status_code}); check "
                            "MIRA_HINT_API_KEY and MIRA_HINT_BASE_URL") from exc
            if outage.dependency_down(exc):
                raise Unavailable(outage.HINT_ENDPOINT, describe(exc)) from exc
            reason = describe(exc)
        self.fell_through += 1
        log.warning("hint model failed (%s); trying the next hint source", reason)
        return None
