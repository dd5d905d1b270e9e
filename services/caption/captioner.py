"""The caption stage's core: one grid image and hint in, one CaptionOutcome out, through the OpenAI SDK.

It asks with structured output (`chat.completions.parse` with the pydantic schema), falls back for good
to a numbered-list reply for a model whose server rejects json_schema, repairs an unusable reply once,
and turns refusals, truncation and content filters into statuses with reasons. Every attempt passes the
budget gate and the rate limiter; the usage of every billed attempt is summed into the outcome.
The grid may be given as a loader: it is then read (from the blob store) only once a request may go, and
dropped with the request, so a thousand requests waiting for the rate budget hold no images.
Non-retryable statuses raise BadInput (dead letter) or Fatal (401: stop the consumer).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import openai
from openai._legacy_response import LegacyAPIResponse

import prompt
from services.caption import reply, request
from services.caption.budget import BudgetGate
from services.caption.errors import fail_fast
from services.caption.ratelimit import RateLimiter, caption_client
from services.caption.reply import Verdict
from services.caption.settings import CaptionSettings
from shared.messages import Captions, CaptionStatus, Usage
from shared.vision_models import image_tokens

log = logging.getLogger(__name__)
# Runs once a request may go (budget held, rate slot granted); told whether anything held it back first.
BeforeSend = Callable[[bool], Awaitable[None]]
# Reads the grid JPEG when a request is about to go (each attempt reads it again).
GridLoader = Callable[[], Awaitable[bytes]]
Grid = bytes | GridLoader
_SCHEMA_WORDS = ("response_format", "json_schema", "structured output", "schema")


@dataclass(frozen=True)
class CaptionOutcome:
    status: CaptionStatus
    reason: str | None
    captions: Captions | None
    model: str
    prompt_version: str
    usage: Usage
    calls: int = 1  # billed exchanges: 2 when an unusable first reply was repaired


@dataclass(frozen=True)
class Ask:
    """One request as sent: the model, the conversation, how the reply is read, the grid it is about."""

    model: str
    msgs: list[dict[str, Any]]
    structured: bool
    grid_w: int
    grid_h: int
    short: bool  # the short caption is asked for too (no hint)
    load: GridLoader | None = None  # fills the grid placeholder of `msgs` when sent; None: msgs carry it


async def grid_bytes(grid: Grid) -> bytes:
    return grid if isinstance(grid, bytes) else await grid()


def _loaded(grid: Grid) -> GridLoader:
    if not isinstance(grid, bytes):
        return grid

    async def given() -> bytes:
        return grid

    return given


def rejects_json_schema(exc: openai.BadRequestError) -> bool:
    """Whether a 400 says the server cannot do json_schema output (servers word it differently)."""
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in _SCHEMA_WORDS)


class Captioner:
    def __init__(self, settings: CaptionSettings, client: openai.AsyncOpenAI | None = None,
                 limiter: RateLimiter | None = None, budget: BudgetGate | None = None) -> None:
        self.s = settings
        # The SDK's aiohttp transport: about a fifth less CPU per request than its default httpx one.
        self.client = client or caption_client(settings)
        self.limiter = limiter or RateLimiter(settings)
        self.budget = budget or BudgetGate.from_settings(settings)
        self.plain_models: set[str] = set()  # models whose server rejected json_schema: numbered lists

    async def aclose(self) -> None:
        await self.budget.aclose()
        await self.client.close()

    async def caption(self, grid: Grid, grid_w: int, grid_h: int, hint: str | None,
                      model: str | None = None, before_send: BeforeSend | None = None) -> CaptionOutcome:
        """`before_send` may raise to call nothing after all (the answer turned up while this one waited).
        A bad grid raises BadInput when it is read, before anything is sent."""
        model = model or self.s.caption_model
        structured = model not in self.plain_models
        msgs = request.messages(None, hint, self.s.caption_image_detail, structured)
        ask = Ask(model, msgs, structured, grid_w, grid_h, prompt.writes_short(hint), _loaded(grid))
        try:
            verdict, usage = await self._ask(ask, Usage(), before_send)
            return await self.finish(ask, verdict, usage)
        except openai.BadRequestError as exc:
            if not (structured and rejects_json_schema(exc)):
                raise fail_fast(exc) from exc
            self._plain(model, exc)
            return await self.caption(grid, grid_w, grid_h, hint, model, before_send)
        except openai.APIStatusError as exc:
            raise fail_fast(exc) from exc

    async def repair(self, grid: Grid, grid_w: int, grid_h: int, hint: str | None, model: str,
                     answer: Captions, problems: list[str], before_send: BeforeSend | None = None) -> CaptionOutcome:
        """One call asking again with the suspect answer and its problems: its outcome as it is (an unusable
        reply is not repaired again: a question is asked at most twice)."""
        structured = model not in self.plain_models
        sent = request.messages(None, hint, self.s.caption_image_detail, structured)
        msgs = request.quality_repair_messages(sent, answer, structured, problems)
        ask = Ask(model, msgs, structured, grid_w, grid_h, prompt.writes_short(hint), _loaded(grid))
        try:
            verdict, usage = await self._ask(ask, Usage(), before_send)
        except openai.APIStatusError as exc:
            raise fail_fast(exc) from exc
        return CaptionOutcome(verdict.status, verdict.reason, verdict.captions, model, prompt.PROMPT_VERSION, usage)

    def _plain(self, model: str, exc: openai.BadRequestError) -> None:
        log.warning("%s rejects json_schema output (%s); using numbered-list replies for model %s",
                    self.s.openai_base_url or "the API", exc.message, model)
        self.plain_models.add(model)

    async def finish(self, ask: Ask, verdict: Verdict, usage: Usage) -> CaptionOutcome:
        """The outcome of a first reply: repaired once (live) when it was unusable, else as it is."""
        calls = 1
        if verdict.status == "failed" and verdict.repairable:
            log.info("unusable caption reply (%s); asking once more with a repair", verdict.reason)
            again = replace(ask, msgs=request.repair_messages(ask.msgs, verdict.content, verdict.reason or ""))
            verdict, usage = await self._ask(again, usage)
            calls = 2
            if verdict.status == "failed":
                verdict = Verdict("failed", reason=f"after one repair: {verdict.reason}")
        return CaptionOutcome(verdict.status, verdict.reason, verdict.captions, ask.model,
                              prompt.PROMPT_VERSION, usage, calls)

    async def _ask(self, ask: Ask, usage: Usage, before_send: BeforeSend | None = None) -> tuple[Verdict, Usage]:
        """One billed exchange (with the limiter's retries): its verdict and the usage so far."""
        tokens = request.rate_tokens(ask.model, ask.msgs, ask.grid_w, ask.grid_h, self.s)
        held = await self.budget.reserve(request.worst_cost(ask.model, tokens, self.s))
        spent = Usage()

        async def send(held_back: bool) -> LegacyAPIResponse[Any]:
            if before_send is not None:
                await before_send(held_back or held.waited)
            return await self._send(ask)

        try:
            raw = await self.limiter.call(send, tokens)
            body = raw.http_response.json()
            image = image_tokens(ask.model, ask.grid_w, ask.grid_h, self.s.caption_image_detail)
            spent = reply.usage_from(body, ask.model, image)
            self.limiter.settle(tokens, spent.input_tokens + spent.output_tokens)
        finally:
            await self.budget.settle(held, spent.cost_usd)
        return reply.read_reply(body, ask.structured, ask.short), reply.add(usage, spent)

    async def _send(self, ask: Ask) -> LegacyAPIResponse[Any]:
        msgs = ask.msgs
        if ask.load is not None:  # read now, not while waiting for a slot or the rate budget
            jpeg = await ask.load()
            request.check_grid(jpeg, ask.grid_w, ask.grid_h)
            msgs, images = request.with_grid(msgs, jpeg)
            del jpeg  # the data URL is what the request carries
            request.sending.set(tuple(images))  # emptied once serialized (request.drop_sent_images)
        body: dict[str, Any] = {"messages": msgs, **request.options(self.s)}
        if ask.structured:
            # The schema `parse` would build on every call, built once; our own reply parser reads the body.
            body["response_format"] = request.response_format(ask.short)
        # Sent as `extra_body`, which the SDK merges into the request JSON as it is: passed as parameters,
        # the messages and schema go through its type-directed transform, a quarter of this stage's CPU per
        # call for a body it leaves unchanged. (`messages=[]` is only the required parameter, replaced.)
        return await self.client.chat.completions.with_raw_response.create(  # type: ignore[call-overload]
            model=ask.model, messages=[], extra_body=body)
