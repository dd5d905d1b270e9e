"""Hint: a grid in, the grid with its one-sentence short caption out.

The hint comes from the manifest, a small captioning model, or nowhere, in the order MIRA_HINT_ORDER says.
Model-made hints are kept in the record store, so a redelivered grid gets the same hint.
"""

from __future__ import annotations

from prometheus_client import Counter

from services.hint.choose import HintChooser
from services.hint.settings import HintSettings
from shared.blobstore import open_blobstore
from shared.messages import GridReady, HintReady
from shared.runtime.outage import HINT_ENDPOINT, OBJECT_STORE, RECORD_STORE
from shared.runtime.stage import Stage, StageContext
from shared.store.records import RecordStore
from shared.topics import Topic


class HintStage(Stage[GridReady]):
    name = "hint"
    consumes = Topic.GRIDS
    message = GridReady
    dependencies = (OBJECT_STORE, RECORD_STORE, HINT_ENDPOINT)

    async def start(self, ctx: StageContext) -> None:
        assert ctx.settings.blob_url is not None and ctx.settings.database_url is not None
        blobs = open_blobstore(ctx.settings.blob_url)
        self.store = await ctx.run_blocking(RecordStore.open, ctx.settings.database_url)
        self.chooser = HintChooser(HintSettings(), blobs.get, store=self.store.engine)
        self.max_hint_chars = ctx.settings.max_hint_chars
        self.sources = Counter("mira_hints", "Hints by source (manifest, model, none)", ["source"],
                               registry=ctx.registry)

    async def handle(self, message: GridReady) -> HintReady:
        hint = await self.chooser.choose(message.manifest_hint, message.grid.uri, message.grid.sha256)
        hint = hint.capped(self.max_hint_chars)  # also for jobs that did not come through ingest
        self.sources.labels(hint.source).inc()
        return HintReady(**message.model_dump(), hint=hint)

    async def stop(self) -> None:
        await self.chooser.aclose()
        self.store.close()
