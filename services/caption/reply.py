"""Reads one chat completion body into a verdict (success, truncated, refused or failed) and its usage.

One reader for every path: live structured output, the numbered-list fallback and Batch API result
lines, so a reply means the same whichever way it came. Structured content is validated against the
same pydantic model `chat.completions.parse` sent as the schema, exactly as the SDK's parser does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

import prompt
from services.caption.listparse import FIELDS, parse_numbered_list
from shared.messages import Captions, CaptionStatus, Usage
from shared.vision_models import cost_usd


@dataclass(frozen=True)
class Verdict:
    status: CaptionStatus
    captions: Captions | None = None
    reason: str | None = None
    repairable: bool = False  # a failure a repair instruction may fix (bad JSON, missing or empty fields)
    content: str | None = None  # the reply text, shown back to the model in a repair


def read_reply(body: dict[str, Any], structured: bool, short: bool = False) -> Verdict:
    """`short`: the request asked for the short caption too (no hint)."""
    choices = body.get("choices") or []
    if not choices:
        return Verdict("failed", reason="the reply has no choices", repairable=True)
    choice = choices[0]
    message = choice.get("message") or {}
    content, finish = message.get("content"), choice.get("finish_reason")
    if finish == "length":
        return Verdict("truncated", reason="finish_reason length: the reply hit the output token limit "
                       "(MIRA_CAPTION_MAX_OUTPUT_TOKENS)", content=content)
    if finish == "content_filter":
        return Verdict("refused", reason="finish_reason content_filter: the provider's content filter "
                       "blocked the reply", content=content)
    if message.get("refusal"):
        return Verdict("refused", reason=f"model refused: {message['refusal']}")
    if not content:
        return Verdict("failed", reason="the reply is empty", repairable=True)
    wanted = (*FIELDS, "short_caption") if short else FIELDS
    fields = _structured(content, short) if structured else parse_numbered_list(content, wanted)
    if isinstance(fields, str):
        return Verdict("failed", reason=fields, repairable=True, content=content)
    empty = [name for name in wanted if not str(fields.get(name) or "").strip()]
    if empty:
        return Verdict("failed", reason=f"empty or missing caption fields: {', '.join(empty)}",
                       repairable=True, content=content)
    return Verdict("success", Captions(**{name: str(fields[name]).strip() for name in wanted}))


def _structured(content: str, short: bool) -> dict[str, Any] | str:
    """The fields of a JSON reply, or why they cannot be read."""
    try:
        return prompt.output_schema(short).model_validate_json(content).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        return f"the reply is not valid caption JSON ({where}: {first['msg']})"


def usage_from(body: dict[str, Any], model: str, image_estimate: int, price_factor: float = 1.0) -> Usage:
    """Tokens as the API reports them (image tokens estimated if it does not), priced by the model table.

    `input_tokens` is the whole prompt, image tokens included, as the API counts it.
    """
    usage = body.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    output = int(usage.get("completion_tokens") or 0)
    reported = (usage.get("prompt_tokens_details") or {}).get("image_tokens")
    image = int(reported) if reported is not None else min(image_estimate, prompt_tokens)
    return Usage(input_tokens=prompt_tokens, image_tokens=image, output_tokens=output,
                 cost_usd=cost_usd(model, prompt_tokens, output) * price_factor)


def add(a: Usage, b: Usage) -> Usage:
    return Usage(input_tokens=a.input_tokens + b.input_tokens, image_tokens=a.image_tokens + b.image_tokens,
                 output_tokens=a.output_tokens + b.output_tokens, cost_usd=a.cost_usd + b.cost_usd)
