"""What the local model says: reads a chat completion request (text, images, response format) and writes
the reply (placeholder captions, or the one a test's fault calls for), with usage counted from the image
actually sent. The test suite's fake server (tests/fake_openai) answers with the same replies.

Caption answers read like a real grid captioner's (corpus.py, chosen by the image sent, so different clips
get different text that passes the quality rules) but describe no video: they are placeholder text, whatever
the clip shows. They start from the hint when there is one, so a test can tell its own request's answer, and
carry the short caption when the schema asks for it. With a test's `defect_share` some grids get a defective
first answer, and the quality repair of it (a request carrying the repair instruction) a clean one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

import prompt
from cli.localmodel import corpus

HINT_REQUEST = re.compile(r"one[- ]sentence caption", re.IGNORECASE)


@dataclass(frozen=True)
class SentImage:
    data: bytes = field(repr=False)
    mime: str
    format: str  # what Pillow found: "JPEG", "PNG", ...
    width: int
    height: int
    detail: str


@dataclass(frozen=True)
class Recorded:
    """One request the server received (chat completions, also those read from a batch file)."""

    path: str
    body: dict[str, Any]
    authorization: str | None
    fault: str
    status: int
    at: float

    @property
    def text(self) -> str:
        """Every text part of every message, joined: the prompt as the model saw it."""
        return "\n".join(t for t, _ in _parts(self.body))

    @property
    def images(self) -> list[SentImage]:
        return [img for _, img in _parts(self.body, want_images=True) if img is not None]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def response_format(self) -> str | None:
        fmt = self.body.get("response_format")
        return fmt.get("type") if isinstance(fmt, dict) else None


def _parts(body: dict[str, Any], want_images: bool = False) -> list[tuple[str, SentImage | None]]:
    out: list[tuple[str, SentImage | None]] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            out.append((content, None))
            continue
        for part in content or []:
            if part.get("type") == "text":
                out.append((part.get("text", ""), None))
            elif part.get("type") == "image_url" and want_images:
                out.append(("", decode_image(part["image_url"])))
    return out


def decode_image(image_url: dict[str, Any]) -> SentImage:
    url = image_url.get("url", "")
    match = re.match(r"data:([\w/+.-]+);base64,(.*)", url, re.DOTALL)
    if not match:
        raise ValueError(f"image_url is not a base64 data URL: {url[:40]!r}")
    data = base64.b64decode(match.group(2), validate=True)
    with Image.open(io.BytesIO(data)) as img:
        return SentImage(data, match.group(1), str(img.format), img.width, img.height,
                         str(image_url.get("detail", "auto")))


def image_tokens(width: int, height: int, detail: str) -> int:
    """GPT-4o-class rule: fit 2048 square, short side to 768, 170 per 512 px tile plus 85."""
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def prompt_tokens(body: dict[str, Any]) -> tuple[int, int]:
    """(all prompt tokens, of which image tokens): about four characters per text token."""
    texts = [t for t, _ in _parts(body)]
    images = sum(image_tokens(i.width, i.height, i.detail)
                 for _, i in _parts(body, want_images=True) if i is not None)
    return sum(len(t) for t in texts) // 4 + 7 * len(body.get("messages", [])) + images, images


def _scene(body: dict[str, Any]) -> tuple[str, str]:
    """(subject taken from the hint in the prompt or a default, image size text)."""
    text = "\n".join(t for t, _ in _parts(body))
    hint = re.search(r'depicts\s+"([^"]+)"', text)
    subject = hint.group(1).rstrip(".") if hint else "a person walking a brown dog along a beach"
    images = [i for _, i in _parts(body, want_images=True) if i is not None]
    size = f"{images[0].width}x{images[0].height}" if images else "no image"
    return subject, size


def _grid_number(body: dict[str, Any]) -> int:
    """A number the sent image decides (the same grid always gets the same answer)."""
    urls = [part["image_url"].get("url", "") for m in body.get("messages", []) if isinstance(m.get("content"), list)
            for part in m["content"] if part.get("type") == "image_url"]
    return int(hashlib.sha256((urls[0] if urls else "").encode()).hexdigest()[:12], 16)


def is_quality_repair(body: dict[str, Any]) -> bool:
    head = prompt.QUALITY_REPAIR.split("{", 1)[0]
    return any(head in t for t, _ in _parts(body))


def defect_of(body: dict[str, Any], share: float, defects: tuple[str, ...]) -> str | None:
    """The defect this grid's first answer carries, if any (decided by the grid, so tests can predict it)."""
    n = _grid_number(body)
    if not defects or (n % 1000) / 1000 >= share:
        return None
    return defects[(n // 1000) % len(defects)]


def repair_fixes(body: dict[str, Any], share: float) -> bool:
    """Whether this grid's quality repair comes back clean (drawn apart from whether it had a defect)."""
    return ((_grid_number(body) >> 20) % 1000) / 1000 < share


def caption_fields(body: dict[str, Any], defect: str | None = None) -> dict[str, str]:
    subject, _ = _scene(body)
    n = _grid_number(body)
    answer, hint = corpus.clean(n % 100_000, short=True)
    answer = answer.model_copy(update={
        "dense_caption": f"The video shows {subject}. {answer.dense_caption}",
        "main_object_caption": f"The main subject is {subject}. {answer.main_object_caption.split('. ', 1)[1]} "
                               "Dr. Lee's red kite drifts about 2.5 meters "
                               "above them, e.g. near the trees.",
    })
    if defect is not None:
        answer = corpus.defective(answer, hint, defect, n // 7)
    return {name: value for name, value in answer.model_dump().items() if value is not None}


def numbered_list(fields: dict[str, str]) -> str:
    """The plain-text reply of a server without json_schema: a numbered list, items may span lines."""
    labels = ["Detailed description", "Main subject", "Background", "Camera", "Style"]
    items = []
    for n, (label, text) in enumerate(zip(labels, fields.values()), start=1):
        first, _, rest = text.partition(". ")
        items.append(f"{n}. **{label}**: {first}.\n{rest}" if rest else f"{n}. **{label}**: {text}")
    return "Here are the captions.\n\n" + "\n\n".join(items)


def hint_sentence(body: dict[str, Any], fixed: str | None, long: bool, variant: int | None = None) -> str:
    if fixed is not None:
        return fixed
    _, size = _scene(body)
    if variant is not None:  # a sampling model says it a little differently every time
        return f"A person walks a brown dog {variant} steps along a sunny beach, shown in a {size} grid."
    if long:
        return ("A person in a blue jacket walks a brown dog slowly along a wide sandy beach at sunset "
                "while waves roll in, gulls circle overhead, children build sandcastles near the dunes, "
                "a red kite drifts high above them and the warm light fades over the calm sea, "
                f"in a {size} grid.")
    return f"A person walks a brown dog along a sunny beach, shown in a {size} grid."


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    return (body.get("response_format") or {}).get("json_schema", {}).get("schema")  # type: ignore[no-any-return]


def is_hint_request(body: dict[str, Any]) -> bool:
    """A one-sentence hint request (free text), as opposed to a caption request."""
    return bool(HINT_REQUEST.search("\n".join(t for t, _ in _parts(body)))) and _schema(body) is None


def content_for(body: dict[str, Any], fault: str, hint_reply: str | None,
                variant: int | None = None, defect: str | None = None) -> tuple[str | None, str | None, str]:
    """(content, refusal, finish_reason) for an admitted request under `fault`."""
    schema = _schema(body)
    if fault == "refusal":
        return None, "I'm sorry, I can't help with describing this video.", "stop"
    if is_hint_request(body):
        return hint_sentence(body, hint_reply, fault == "long_hint", variant), None, "stop"
    fields = caption_fields(body, defect)
    short = "short_caption" in (schema or {}).get("properties", {}) or "6." in "".join(t for t, _ in _parts(body))
    if schema is not None:
        wanted = list(schema.get("properties", fields))
        fields = {k: fields.get(k, f"Text for {k}.") for k in wanted}
    elif not short:
        fields.pop("short_caption", None)
    if fault == "empty_field":
        fields[next(iter(fields))] = ""
    if fault == "drop_field":
        fields.pop(next(reversed(fields)))
    text = json.dumps(fields) if schema is not None else numbered_list(fields)
    if fault == "malformed":
        return text[: len(text) // 2], None, "stop"
    if fault == "length":
        return text[: len(text) // 3], None, "length"
    if fault == "content_filter":
        return None, None, "content_filter"
    return text, None, "stop"


def completion(body: dict[str, Any], fault: str, hint_reply: str | None,
               variant: int | None = None, defect: str | None = None) -> dict[str, Any]:
    content, refusal, finish = content_for(body, fault, hint_reply, variant, defect)
    prompt, images = prompt_tokens(body)
    output = len(content or refusal or "") // 4
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish,
            "logprobs": None,
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": images},
        },
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests"}
    codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": kinds.get(status, "server_error"),
                      "param": None, "code": codes.get(status)}}


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `image_url` objects of every message, in order."""
    return [part["image_url"] for m in body.get("messages", []) if isinstance(m.get("content"), list)
            for part in m["content"] if part.get("type") == "image_url"]
