"""Caption: a hinted grid in, the five GPT caption types out (one model call per clip).

Before paying for a call it looks for an answer already paid for with the same grid, hint, prompt version
and model (a successful record, or the answer log written before each result is published), so redelivered
messages and unchanged recaptions never pay twice.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter

import prompt
from services.caption.batch import BatchCaptioner, captioner_for
from services.caption.budget import BudgetGate
from services.caption.captioner import Captioner
from services.caption.settings import CaptionSettings
from shared.blobstore import open_blobstore
from shared.messages import CaptionResult, HintReady, Usage
from shared.runtime.errors import Fatal
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic


class CaptionStage(Stage[HintReady]):
    name = "caption"
    consumes = Topic.HINTED
    message = HintReady

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.settings = CaptionSettings()
        if not self.settings.model_configured:
            raise Fatal("no model endpoint: set OPENAI_API_KEY (and/or OPENAI_BASE_URL for a compatible server)")
        assert ctx.settings.blob_url and ctx.settings.database_url
        self.blobs = open_blobstore(ctx.settings.blob_url)
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        spent = (await ctx.run_blocking(self.store.totals)).cost_usd  # the budget holds across restarts
        self.captioner = captioner_for(self.settings, state_dir=ctx.settings.home, spent_usd=spent)
        self.batch = isinstance(self.captioner, BatchCaptioner)
        live = self.captioner.live if isinstance(self.captioner, BatchCaptioner) else self.captioner
        if live.budget.capped:
            ctx.spawn(self._share_budget(live.budget))
        self.calls = Counter("mira_caption_calls", "Clips by how their captions were obtained (model, reused)",
                             ["how"], registry=ctx.registry)

    async def handle(self, message: HintReady) -> CaptionResult:
        model = message.options.model or self.settings.caption_model
        question = (message.grid.sha256, message.hint.text, prompt.PROMPT_VERSION, model)
        paid = await self.ctx.run_blocking(self.store.paid_answer, *question)
        if paid is not None:
            self.calls.labels("reused").inc()
            return CaptionResult(**message.model_dump(), status="success", captions=paid, model=model,
                                 prompt_version=prompt.PROMPT_VERSION, usage=Usage())
        jpeg = await self.blobs.get(message.grid.uri)
        outcome = await self.captioner.caption(jpeg, message.grid.width, message.grid.height, message.hint.text,
                                               model)
        self.calls.labels("model").inc()
        if outcome.captions is not None:  # logged before publishing: a crash from here on never pays again
            await self.ctx.run_blocking(self.store.remember_answer, *question, outcome.captions)
        return CaptionResult(**message.model_dump(), status=outcome.status, reason=outcome.reason,
                             captions=outcome.captions, model=outcome.model,
                             prompt_version=outcome.prompt_version, usage=outcome.usage)

    async def _share_budget(self, budget: BudgetGate) -> None:
        """Keep the budget's spend in step with the records of every caption replica."""
        while True:
            await asyncio.sleep(self.settings.budget_poll_s)
            budget.observe_spent((await self.ctx.run_blocking(self.store.totals)).cost_usd)

    def in_flight_limit(self, default: int) -> int:
        """Enough clips in hand to keep the request budget busy at the observed latency (or fill a batch)."""
        if self.batch:
            return max(default, self.settings.caption_batch_max_requests)
        live = self.captioner
        assert isinstance(live, Captioner)
        return max(default, live.limiter.suggested_in_flight)

    async def stop(self) -> None:
        await self.captioner.aclose()
        self.store.close()
