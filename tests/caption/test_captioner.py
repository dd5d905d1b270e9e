"""The Captioner's outcomes through the real openai SDK: structured output, the numbered-list fallback,
repairs, refusals, truncation and content filters, with usage and cost as the API reported them."""

from __future__ import annotations

import pytest

import prompt
from services.caption.captioner import Captioner
from services.caption.request import estimate_usage
from shared.messages import GPT_PARTS
from shared.runtime.errors import BadInput
from shared.vision_models import cost_usd, image_tokens
from tests.caption.conftest import GRID_H, GRID_W, make_grid
from tests.fake_openai import FakeOpenAI

FIELDS = list(GPT_PARTS)


async def test_structured_output_fills_five_fields_and_records_usage(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    outcome = await captioner.caption(grid, GRID_W, GRID_H, "a red fox crosses a snowy field")

    assert outcome.status == "success" and outcome.reason is None
    assert outcome.model == "gpt-4o" and outcome.prompt_version == prompt.PROMPT_VERSION
    assert outcome.captions is not None
    assert "a red fox crosses a snowy field" in outcome.captions.dense_caption  # the reply to our request
    assert all(getattr(outcome.captions, name).count(".") >= 1 for name in FIELDS)

    (sent,) = fake_openai.requests
    assert sent.response_format == "json_schema"
    schema = sent.body["response_format"]["json_schema"]
    assert schema["strict"] is True and sorted(schema["schema"]["required"]) == sorted(FIELDS)
    assert 'this video depicts "a red fox crosses a snowy field"' in sent.text
    (image,) = sent.images
    assert (image.format, image.width, image.height, image.detail) == ("JPEG", GRID_W, GRID_H, "high")
    assert image.data == grid

    billed_image = image_tokens("gpt-4o", GRID_W, GRID_H)
    assert outcome.usage.image_tokens == billed_image == 595
    assert outcome.usage.input_tokens > billed_image and outcome.usage.output_tokens > 100
    assert outcome.usage.cost_usd == pytest.approx(
        cost_usd("gpt-4o", outcome.usage.input_tokens, outcome.usage.output_tokens))


async def test_without_hint_the_prompt_has_no_hint_sentence(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    outcome = await captioner.caption(grid, GRID_W, GRID_H, None, model="gpt-4.1")
    assert outcome.status == "success" and outcome.model == "gpt-4.1"
    assert "depicts" not in fake_openai.requests[0].text
    assert fake_openai.requests[0].model == "gpt-4.1"


async def test_server_without_json_schema_gets_numbered_list_parsed_without_cut_sentences(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    structured = await captioner.caption(grid, GRID_W, GRID_H, "a kite over dunes")
    fake_openai.reset()
    fake_openai.configure(json_schema=False)

    first = await captioner.caption(grid, GRID_W, GRID_H, "a kite over dunes")
    second = await captioner.caption(grid, GRID_W, GRID_H, "a kite over dunes")

    # The fake writes the same text either way, with items spread over lines and "2.5 meters",
    # "Dr. Lee" and "e.g." inside them: the list parser must give back exactly the structured fields.
    assert first.status == second.status == "success"
    assert first.captions == structured.captions == second.captions
    statuses = [(r.status, r.response_format) for r in fake_openai.requests]
    assert statuses == [(400, "json_schema"), (200, None), (200, None)]  # asked once, then remembered
    assert prompt.LIST_FORMAT in fake_openai.requests[1].text


@pytest.mark.parametrize("fault", ["empty_field", "drop_field", "malformed"])
async def test_unusable_reply_is_repaired_once(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes, fault: str
) -> None:
    fake_openai.configure(script=[fault])
    outcome = await captioner.caption(grid, GRID_W, GRID_H, "a cyclist on a mountain road")

    assert outcome.status == "success" and outcome.captions is not None
    first, repair = fake_openai.requests
    assert [m["role"] for m in repair.body["messages"]] == ["user", "assistant", "user"]
    assert "could not be used" in repair.body["messages"][-1]["content"]
    assert repair.images[0].data == first.images[0].data
    # Both calls were paid for, so both count.
    single = await captioner.caption(grid, GRID_W, GRID_H, "a cyclist on a mountain road")
    assert outcome.usage.input_tokens > 1.9 * single.usage.input_tokens


async def test_reply_still_unusable_after_repair_is_a_failure_with_reason(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    fake_openai.configure(mode="empty_field")
    outcome = await captioner.caption(grid, GRID_W, GRID_H, None)
    assert outcome.status == "failed" and outcome.captions is None
    assert outcome.reason == "after one repair: empty or missing caption fields: dense_caption"
    assert len(fake_openai.requests) == 2 and outcome.usage.output_tokens > 0


@pytest.mark.parametrize(("fault", "status", "reason"), [
    ("refusal", "refused", "model refused: I'm sorry, I can't help with describing this video."),
    ("content_filter", "refused", "finish_reason content_filter"),
    ("length", "truncated", "finish_reason length"),
])
async def test_refusal_filter_and_truncation_keep_the_reason(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes, fault: str, status: str, reason: str
) -> None:
    fake_openai.configure(mode=fault)
    outcome = await captioner.caption(grid, GRID_W, GRID_H, "a boat")
    assert outcome.status == status and outcome.captions is None
    assert outcome.reason is not None and outcome.reason.startswith(reason)
    assert len(fake_openai.requests) == 1  # not retried: the answer would be the same
    assert outcome.usage.input_tokens > 0 and outcome.usage.cost_usd > 0


@pytest.mark.parametrize(("jpeg", "reason"), [
    (b"\x89PNG\r\n\x1a\n0000", "grid image is not a JPEG"),
    (make_grid(800, 200), "grid image is 800x200 but the message says 1536x432"),
    (b"\xff\xd8\xff" + b"\x00" * 50, "grid image cannot be read"),
])
async def test_bad_grid_is_bad_input_and_costs_nothing(
    fake_openai: FakeOpenAI, captioner: Captioner, jpeg: bytes, reason: str
) -> None:
    with pytest.raises(BadInput, match=reason):
        await captioner.caption(jpeg, GRID_W, GRID_H, None)
    assert fake_openai.requests == []


async def test_cost_estimate_for_skipped_work_is_close_to_what_a_call_costs(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    """Without a key the pipeline says what captioning would cost; the estimate must be near the truth."""
    estimate = estimate_usage("gpt-4o", GRID_W, GRID_H, captioner.s)
    outcome = await captioner.caption(grid, GRID_W, GRID_H, "a market street at noon")
    assert estimate.image_tokens == outcome.usage.image_tokens
    assert estimate.input_tokens == pytest.approx(outcome.usage.input_tokens, rel=0.15)
    # The fake writes shorter captions than MiraData's ~350 words: the estimate may sit above, never below.
    assert outcome.usage.cost_usd <= estimate.cost_usd <= 2 * outcome.usage.cost_usd
