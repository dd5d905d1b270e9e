"""What one caption request sends: the grid as a data URL, the prompt, the output limit, and what it is
expected to cost in tokens and dollars (for the rate limiter, the budget and the no-key estimate).

Shared by live calls (captioner.py) and Batch API files (batch.py) so both send the same thing.
"""

from __future__ import annotations

import functools
import io
import json
from contextvars import ContextVar
from typing import Any, cast

from openai.lib._parsing import type_to_response_format_param
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

import prompt
from services.caption.settings import CaptionSettings
from shared.messages import Captions, Usage
from shared.modelcall import data_url
from shared.runtime.errors import BadInput
from shared.vision_models import cost_usd, image_tokens

EXPECTED_OUTPUT_TOKENS = 600  # ~350 words of captions plus JSON keys (MiraData's samples)
GRID_PLACEHOLDER = "mira:grid"  # the image's URL in a conversation built before the grid is read
# The image parts of the request this task is sending. Once the SDK has serialized the request, their data URLs
# are replaced by the placeholder, so that while the answer is awaited (seconds, for a thousand requests at
# once) each request holds its grid once, in the request's bytes, not twice.
sending: ContextVar[tuple[dict[str, Any], ...]] = ContextVar("mira_caption_sending", default=())


def check_grid(jpeg: bytes, width: int, height: int) -> None:
    """BadInput unless `jpeg` is a JPEG of the size the message claims (the size the prompt is built for)."""
    if not jpeg.startswith(b"\xff\xd8\xff"):
        raise BadInput(f"grid image is not a JPEG (starts with {jpeg[:4]!r}, {len(jpeg)} bytes)")
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            size = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise BadInput(f"grid image cannot be read: {exc}") from exc
    if size != (width, height):
        raise BadInput(f"grid image is {size[0]}x{size[1]} but the message says {width}x{height}")


def messages(jpeg: bytes | None, hint: str | None, detail: str, structured: bool) -> list[dict[str, Any]]:
    """One user message: the prompt text, then the grid image (a placeholder for `with_grid` when None)."""
    text = prompt.build_prompt(hint, numbered_list=not structured)
    url = GRID_PLACEHOLDER if jpeg is None else data_url(jpeg)
    return [{"role": "user", "content": [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": url, "detail": detail}},
    ]}]


def with_grid(msgs: list[dict[str, Any]], jpeg: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The conversation with its grid placeholder filled in (the original is left as it is), and the filled
    `image_url` objects (new ones, so the caller may empty them once the request is serialized)."""
    url = data_url(jpeg)
    images: list[dict[str, Any]] = []

    def filled(part: Any) -> Any:
        image = part.get("image_url") if isinstance(part, dict) and part.get("type") == "image_url" else None
        if image is not None and image.get("url") == GRID_PLACEHOLDER:
            images.append({**image, "url": url})
            return {**part, "image_url": images[-1]}
        return part

    out = [{**m, "content": [filled(p) for p in m["content"]]} if isinstance(m["content"], list) else m
           for m in msgs]
    return out, images


async def drop_sent_images(_request: object) -> None:
    """The HTTP client's request hook (run in the sending task, after serialization): the data URLs may go."""
    for image in sending.get():
        image["url"] = GRID_PLACEHOLDER
    sending.set(())


def repair_messages(sent: list[dict[str, Any]], reply: str | None, problem: str) -> list[dict[str, Any]]:
    """The conversation again, with the unusable reply and an instruction to fix it."""
    return [*sent, {"role": "assistant", "content": reply or ""},
            {"role": "user", "content": prompt.repair_instruction(problem)}]


def quality_repair_messages(sent: list[dict[str, Any]], answer: Captions, structured: bool,
                            problems: list[str]) -> list[dict[str, Any]]:
    """The conversation again, with the suspect answer as the model gave it and the problems to fix."""
    fields = answer.parts()
    if "short_caption" in fields:  # in the schema's order
        fields = {**{k: v for k, v in fields.items() if k != "short_caption"}, "short_caption": fields["short_caption"]}
    given = json.dumps(fields) if structured else "\n\n".join(f"{n}. {v}" for n, v in enumerate(fields.values(), 1))
    return [*sent, {"role": "assistant", "content": given},
            {"role": "user", "content": prompt.quality_repair_instruction(problems)}]


def options(settings: CaptionSettings) -> dict[str, Any]:
    """Request options besides model and messages."""
    extra: dict[str, Any] = {"max_completion_tokens": settings.caption_max_output_tokens}
    if settings.caption_temperature is not None:
        extra["temperature"] = settings.caption_temperature
    return extra


@functools.cache
def _response_format(schema: type[BaseModel]) -> dict[str, Any]:
    return cast(dict[str, Any], type_to_response_format_param(schema))


def response_format(short: bool = False) -> dict[str, Any]:
    """The strict json_schema `chat.completions.parse(response_format=...)` sends, built once per variant
    (building it took about a millisecond of every call); `short`: the schema with the short caption."""
    return _response_format(prompt.output_schema(short))


def body(model: str, msgs: list[dict[str, Any]], settings: CaptionSettings, short: bool = False) -> dict[str, Any]:
    """The JSON body of a structured request (for batch files)."""
    return {"model": model, "messages": msgs, **options(settings), "response_format": response_format(short)}


def text_tokens(msgs: list[dict[str, Any]]) -> int:
    """About four characters per token, plus a few per message for the chat format."""
    chars = 0
    for message in msgs:
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
        chars += sum(len(p) for p in parts)
    return chars // 4 + 7 * len(msgs)


def rate_tokens(model: str, msgs: list[dict[str, Any]], grid_w: int, grid_h: int,
                settings: CaptionSettings) -> int:
    """What the server counts against tokens/minute: prompt estimate plus the output limit."""
    image = image_tokens(model, grid_w, grid_h, settings.caption_image_detail)
    return text_tokens(msgs) + image + settings.caption_max_output_tokens


def worst_cost(model: str, tokens: int, settings: CaptionSettings) -> float:
    """Upper bound of one call's cost (its rate tokens priced, output at the output price)."""
    out = settings.caption_max_output_tokens
    return cost_usd(model, tokens - out, out)


def estimate_usage(model: str, grid_w: int, grid_h: int, settings: CaptionSettings) -> Usage:
    """Expected usage of captioning one grid, for saying what skipped work would cost."""
    msgs = [{"role": "user", "content": [{"type": "text", "text": prompt.build_prompt("x" * 60)}]}]
    image = image_tokens(model, grid_w, grid_h, settings.caption_image_detail)
    inp = text_tokens(msgs) + image
    return Usage(input_tokens=inp, image_tokens=image, output_tokens=EXPECTED_OUTPUT_TOKENS,
                 cost_usd=cost_usd(model, inp, EXPECTED_OUTPUT_TOKENS))
