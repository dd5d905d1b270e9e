"""Batch mode (MIRA_CAPTION_BATCH): the same captions through the Batch API, for large backfills at a discount.

`BatchCaptioner.caption` has the live Captioner's signature, so the stage feeds results into the same
stream; behind it requests are gathered for MIRA_CAPTION_BATCH_WAIT_S (or until
MIRA_CAPTION_BATCH_MAX_REQUESTS), written as one JSONL file, uploaded, submitted and polled, and every
result line is mapped back by its custom_id. The custom_id hashes model, prompt version, hint and grid,
so identical requests share one line, and a ledger in the record store remembers which batch holds which
custom_id: a message redelivered after a restart, or to another replica, reads the batch already paid for
instead of submitting again.
A reply that needs repair (unusable, or suspect by the quality rules) is repaired live; a failed or expired batch hands its clips back to the
runtime to retry (nothing was billed for them).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

import openai
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import prompt
from services.caption import reply, request
from services.caption.budget import BudgetGate, Reservation, StoreTally
from services.caption.captioner import Ask, BeforeSend, Captioner, CaptionOutcome, Grid, grid_bytes
from services.caption.errors import fail_fast, reject, retryable, retryable_status
from services.caption.settings import CaptionSettings
from shared.messages import Usage
from shared.runtime import outage
from shared.runtime.errors import RetryLater, Unavailable
from shared.store import batches
from shared.vision_models import image_tokens

log = logging.getLogger(__name__)
ENDPOINT: Final = "/v1/chat/completions"
DONE = ("completed", "failed", "expired", "cancelled")
LEDGER_TTL_S = 3 * 24 * 3600  # output files outlive the 24 h window; older entries are pruned


def custom_id(model: str, hint: str | None, grid_jpeg: bytes) -> str:
    key = json.dumps([model, prompt.PROMPT_VERSION, prompt.clean_hint(hint),
                      hashlib.sha256(grid_jpeg).hexdigest()])
    return "mira-" + hashlib.sha256(key.encode()).hexdigest()[:32]


class Ledger:
    """custom_id -> batch id: in the record store when given its engine (shared by every replica and
    restart), else in this process's memory."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self.entries: dict[str, str] = {}

    async def submitted(self, ids: list[str]) -> dict[str, str]:
        if self.engine is None:
            return {cid: self.entries[cid] for cid in ids if cid in self.entries}
        return await asyncio.to_thread(batches.submitted, self.engine, ids)

    async def put(self, ids: list[str], batch_id: str) -> None:
        if self.engine is None:
            self.entries.update(dict.fromkeys(ids, batch_id))
        else:
            await asyncio.to_thread(batches.put, self.engine, ids, batch_id, LEDGER_TTL_S)

    async def drop(self, ids: list[str], batch_id: str) -> None:
        if self.engine is None:
            for cid in ids:
                self.entries.pop(cid, None)
        else:
            await asyncio.to_thread(batches.drop, self.engine, ids, batch_id)


@dataclass
class Pending:
    """One distinct request; every caller asking the same thing awaits the same `outcome`."""

    cid: str
    model: str
    msgs: list[dict[str, Any]]
    grid_w: int
    grid_h: int
    line: asyncio.Future[dict[str, Any]]  # the result line's response: {status_code, body}
    short: bool = False  # asks for the short caption too (no hint)
    held: Reservation | None = None  # its worst-case cost, held against the budget
    batch_id: str | None = None  # the batch that holds it, once submitted (here or by another replica)
    outcome: asyncio.Task[CaptionOutcome] | None = field(default=None)


class BatchCaptioner:
    def __init__(self, settings: CaptionSettings, live: Captioner | None = None,
                 ledger: Ledger | None = None) -> None:
        self.s = settings
        self.live = live or Captioner(settings)  # client, budget and the live repair path
        self.client = self.live.client
        self.ledger = ledger or Ledger()
        self.pending: dict[str, Pending] = {}
        self.gathered: list[Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._watched: set[str] = set()
        self._flush_at: float | None = None
        self._charged: set[str] = set()  # custom_ids whose cost this process already counted

    @property
    def suggested_in_flight(self) -> int:
        """Messages the consumer should hold at once so that a batch can fill."""
        return self.s.caption_batch_max_requests

    async def caption(self, grid: Grid, grid_w: int, grid_h: int, hint: str | None,
                      model: str | None = None, before_send: BeforeSend | None = None) -> CaptionOutcome:
        model = model or self.s.caption_model
        grid_jpeg = await grid_bytes(grid)  # a batch line carries its image from the start
        request.check_grid(grid_jpeg, grid_w, grid_h)
        cid = custom_id(model, hint, grid_jpeg)
        p = self.pending.get(cid)
        if p is None:
            msgs = request.messages(grid_jpeg, hint, self.s.caption_image_detail, structured=True)
            p = Pending(cid, model, msgs, grid_w, grid_h, asyncio.get_running_loop().create_future(),
                        short=prompt.writes_short(hint))
            self.pending[cid] = p  # before any await: a duplicate arriving meanwhile joins this one
            try:
                await self._enter(p, before_send)
            except BaseException as exc:
                await self._fail([p], exc)
                raise
        line = await asyncio.shield(p.line)
        if p.outcome is None:
            p.outcome = asyncio.get_running_loop().create_task(self._outcome(p, line))
        return await asyncio.shield(p.outcome)

    async def _enter(self, p: Pending, before_send: BeforeSend | None) -> None:
        """Hold the budget, then join the batch already holding this request, or gather it for the next."""
        tokens = request.rate_tokens(p.model, p.msgs, p.grid_w, p.grid_h, self.s)
        p.held = await self.live.budget.reserve(request.worst_cost(p.model, tokens, self.s)
                                                * self.s.caption_batch_discount)
        if before_send is not None:
            await before_send(True)  # always look: a batch request is cheap to check and slow to answer
        p.batch_id = (await self.ledger.submitted([p.cid])).get(p.cid)
        if p.batch_id is not None:
            self._watch(p.batch_id)  # paid for before a restart, or by another replica: read that batch
        else:
            self.gathered.append(p)
            self._gather()

    async def repair(self, *args: Any, **kwargs: Any) -> CaptionOutcome:
        """Quality repairs go live: one call, and the clip waits for nothing else."""
        return await self.live.repair(*args, **kwargs)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.live.aclose()

    async def flush(self) -> None:
        """Submit everything gathered now (less what another replica submitted meanwhile)."""
        batch, self.gathered, self._flush_at = self.gathered, [], None
        try:
            elsewhere = await self.ledger.submitted([p.cid for p in batch])
        except sa.exc.SQLAlchemyError as exc:
            await self._fail(batch, Unavailable(outage.RECORD_STORE, f"batch ledger unreadable: {exc}")
                             if outage.dependency_down(exc) else RetryLater(f"batch ledger unreadable: {exc}"))
            return
        for p in batch:
            if p.cid in elsewhere:
                p.batch_id = elsewhere[p.cid]
                self._watch(p.batch_id)
        batch = [p for p in batch if p.batch_id is None]
        if not batch:
            return
        lines = [json.dumps({"custom_id": p.cid, "method": "POST", "url": ENDPOINT,
                             "body": request.body(p.model, p.msgs, self.s, p.short)}) for p in batch]
        try:
            upload = await self.client.files.create(
                file=("mira-captions.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
            created = await self.client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                metadata={"source": "mira", "prompt_version": prompt.PROMPT_VERSION})
        except openai.APIError as exc:
            await self._fail(batch, exc)
            return
        log.info("submitted batch %s with %d caption requests", created.id, len(batch))
        # Paid for from here on: record it even if this task is cancelled meanwhile.
        await asyncio.shield(self.ledger.put([p.cid for p in batch], created.id))
        for p in batch:
            p.batch_id = created.id
        self._watch(created.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _gather(self) -> None:
        if len(self.gathered) >= self.s.caption_batch_max_requests:
            self._spawn(self.flush())
        elif self._flush_at is None:
            self._flush_at = time.monotonic() + self.s.caption_batch_wait_s
            self._spawn(self._flush_later(self._flush_at))

    async def _flush_later(self, at: float) -> None:
        await asyncio.sleep(at - time.monotonic())
        if self._flush_at == at:  # not already flushed because the batch filled up
            await self.flush()

    def _watch(self, batch_id: str) -> None:
        if batch_id not in self._watched:
            self._watched.add(batch_id)
            self._spawn(self._poll(batch_id))

    async def _poll(self, batch_id: str) -> None:
        """Wait for the batch to end, then resolve every pending request it holds."""
        try:
            while (batch := await self.client.batches.retrieve(batch_id)).status not in DONE:
                await asyncio.sleep(self.s.caption_batch_poll_s)
            if batch.status != "completed":
                await self._fail(self._members(batch_id),
                                 RetryLater(f"batch {batch_id} ended {batch.status}; the clip is retried"))
                return
            lines: dict[str, dict[str, Any]] = {}
            for file_id in filter(None, (batch.output_file_id, batch.error_file_id)):
                text = (await self.client.files.content(file_id)).text
                for row in map(json.loads, filter(str.strip, text.splitlines())):
                    lines[row["custom_id"]] = row.get("response") or {"status_code": 500, "body": row}
            missing = {"status_code": 500, "body": {"error": {"message": f"no result line in {batch_id}"}}}
            for p in self._members(batch_id):
                self.pending.pop(p.cid, None)  # the ledger keeps it: a redelivery reads this batch again
                p.line.set_result(lines.get(p.cid, missing))
        except openai.APIError as exc:
            await self._fail(self._members(batch_id), exc)
        finally:
            self._watched.discard(batch_id)

    def _members(self, batch_id: str) -> list[Pending]:
        return [p for p in self.pending.values() if p.batch_id == batch_id]

    async def _fail(self, pendings: list[Pending], exc: BaseException) -> None:
        """End these requests with `exc` (nothing was billed for them): a retry submits them again."""
        if isinstance(exc, openai.APIStatusError) and not retryable(exc):
            exc = fail_fast(exc)
        elif isinstance(exc, openai.APIError):
            exc = (Unavailable(outage.CAPTION_ENDPOINT, f"batch API error: {exc}") if outage.dependency_down(exc)
                   else RetryLater(f"batch API error: {exc}"))
        for p in pendings:
            self.pending.pop(p.cid, None)
            if not p.line.done():
                p.line.set_exception(exc)
                p.line.exception()  # retrieved here: a lone caller re-raises it itself
        for p in pendings:
            if p.held is not None:
                await self.live.budget.settle(p.held, 0.0)
        for batch_id in {p.batch_id for p in pendings if p.batch_id is not None}:
            await self.ledger.drop([p.cid for p in pendings if p.batch_id == batch_id], batch_id)

    async def _outcome(self, p: Pending, line: dict[str, Any]) -> CaptionOutcome:
        status, body = int(line.get("status_code", 500)), line.get("body") or {}
        image = image_tokens(p.model, p.grid_w, p.grid_h, self.s.caption_image_detail)
        usage = reply.usage_from(body, p.model, image, self.s.caption_batch_discount) if status == 200 else Usage()
        if p.held is not None:
            await self.live.budget.settle(p.held, 0.0 if p.cid in self._charged else usage.cost_usd)
        self._charged.add(p.cid)
        if status != 200:
            message = str((body.get("error") or {}).get("message", ""))
            if retryable_status(status):
                raise RetryLater(f"batch line answered {status}: {message}")
            raise reject(status, message)
        try:
            ask = Ask(p.model, p.msgs, True, p.grid_w, p.grid_h, p.short)
            return await self.live.finish(ask, reply.read_reply(body, True, p.short), usage)
        except openai.APIStatusError as exc:
            raise fail_fast(exc) from exc


def captioner_for(settings: CaptionSettings, store: Engine | None = None) -> Captioner | BatchCaptioner:
    """The stage's captioner: live, or batch mode when MIRA_CAPTION_BATCH is set. With a record store's
    engine, the budget tally and the batch ledger live there, shared by every caption replica."""
    tally = StoreTally(store) if store is not None else None
    live = Captioner(settings, budget=BudgetGate.from_settings(settings, tally=tally))
    if not settings.caption_batch:
        return live
    return BatchCaptioner(settings, live, Ledger(store))
