"""Caption: a hinted grid in, the five GPT caption types out (one model call per clip).

Before paying for a call it looks for an answer already paid for with the same grid, hint, prompt version
and model (a successful record, or the answer log written before each result is published), and it asks
each question once however many deliveries carry it, in this process or in other replicas (onecall.py),
so redelivered messages, rebalances and unchanged recaptions never pay twice. Every answer is checked by
the quality rules and a suspect one repaired once (repair.py) before the result goes to the sink.
"""

from __future__ import annotations

from prometheus_client import Counter

import prompt
from services.caption.batch import BatchCaptioner, captioner_for
from services.caption.captioner import BeforeSend, Captioner, CaptionOutcome
from services.caption.metrics import CaptionMetrics
from services.caption.onecall import OneCall, Question
from services.caption.repair import Repairs
from services.caption.settings import CaptionSettings
from shared.blobstore import open_blobstore
from shared.messages import CaptionResult, HintReady
from shared.runtime.errors import Fatal
from shared.runtime.outage import CAPTION_ENDPOINT, OBJECT_STORE, RECORD_STORE
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic


class CaptionStage(Stage[HintReady]):
    name = "caption"
    consumes = Topic.HINTED
    message = HintReady
    dependencies = (RECORD_STORE, OBJECT_STORE, CAPTION_ENDPOINT)

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.settings = CaptionSettings()
        if not self.settings.model_configured:
            raise Fatal("no model endpoint: set OPENAI_API_KEY (and/or OPENAI_BASE_URL for a compatible server)")
        assert ctx.settings.blob_url and ctx.settings.database_url
        self.blobs = open_blobstore(ctx.settings.blob_url)
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        # The budget tally and the batch ledger live in the store: shared by every replica, kept across restarts.
        self.captioner = captioner_for(self.settings, self.store.engine)
        self.batch = isinstance(self.captioner, BatchCaptioner)
        self.one_call = OneCall(self.store, self.settings, ctx.run_blocking, ctx.stopping)
        self.repairs = Repairs(self.settings, self.store, self.one_call, self.captioner, self.blobs.get,
                               ctx.run_blocking, ctx.registry)
        self.calls = Counter("mira_caption_calls", "Clips by how their captions were obtained (model, reused)",
                             ["how"], registry=ctx.registry)
        self.metrics = CaptionMetrics(ctx.registry, self.captioner)

    async def handle(self, message: HintReady) -> CaptionResult:
        model = message.options.model or self.settings.caption_model
        question = Question(message.grid.sha256, message.hint.text, prompt.PROMPT_VERSION, model)

        async def call(before_send: BeforeSend) -> CaptionOutcome:
            jpeg = await self.blobs.get(message.grid.uri)
            return await self.captioner.caption(jpeg, message.grid.width, message.grid.height,
                                                message.hint.text, model, before_send)

        outcome, paid = await self.one_call.ask(question, call)
        self.calls.labels("model" if paid else "reused").inc()
        checked = await self.repairs.check(message, question, outcome)
        kept = checked.outcome
        self.metrics.paid(outcome.model, checked.usage)
        return CaptionResult(**message.model_dump(), status=kept.status, reason=kept.reason, captions=kept.captions,
                             model=kept.model, prompt_version=kept.prompt_version, usage=checked.usage,
                             quality=checked.quality, quality_reasons=checked.reasons, repair=checked.repair,
                             repair_reasons=checked.repair_reasons)

    def in_flight_limit(self, default: int) -> int:
        """Enough clips in hand to keep the request budget busy at the observed latency (or fill a batch)."""
        if self.batch:
            return max(default, self.settings.caption_batch_max_requests)
        live = self.captioner
        assert isinstance(live, Captioner)
        return max(default, live.limiter.suggested_in_flight)

    async def stop(self) -> None:
        await self.one_call.aclose()
        await self.captioner.aclose()
        self.store.close()
