"""Choosing each clip's hint: manifest passthrough, the hint model's one capped sentence, or none, in the
configured order; and the hint reaching the caption prompt."""

from __future__ import annotations

from typing import Any

import pytest

from services.caption.captioner import Captioner
from services.hint.choose import HintChooser
from services.hint.settings import HintSettings
from services.hint.vlm import one_sentence
from shared.runtime.errors import Fatal, Unavailable
from shared.runtime.outage import dependency_down
from shared.store import RecordStore
from tests.caption.conftest import GRID_H, GRID_W, caption_settings, make_grid
from tests.fake_openai import FakeOpenAI

GRID = make_grid()


async def load_grid(uri: str) -> bytes:
    assert uri == "file:///grids/abc.jpg"
    return GRID


def chooser(fake: FakeOpenAI, store: RecordStore | None = None, **overrides: Any) -> HintChooser:
    values: dict[str, Any] = {"hint_base_url": fake.base_url, "hint_api_key": "hint-key", "hint_max_retries": 0}
    return HintChooser(HintSettings(**(values | overrides)), load_grid, store=store.engine if store else None)


async def test_manifest_hint_is_passed_through_without_a_model_call(fake_openai: FakeOpenAI) -> None:
    c = chooser(fake_openai)
    hint = await c.choose("  A panda eats\n bamboo in a zoo. ", "file:///grids/abc.jpg")
    await c.aclose()
    assert (hint.text, hint.source) == ("A panda eats bamboo in a zoo.", "manifest")
    assert fake_openai.requests == []


async def test_without_manifest_hint_the_model_writes_one_sentence_about_the_grid(fake_openai: FakeOpenAI) -> None:
    c = chooser(fake_openai, hint_model="tiny-vlm")
    hint = await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    assert hint.source == "model"
    assert hint.text == f"A person walks a brown dog along a sunny beach, shown in a {GRID_W}x{GRID_H} grid."
    (sent,) = fake_openai.requests
    assert sent.model == "tiny-vlm" and sent.authorization == "Bearer hint-key"
    assert "one-sentence caption" in sent.text and "2 rows and 4 columns" in sent.text
    (image,) = sent.images
    assert (image.format, image.width, image.height, image.detail) == ("JPEG", GRID_W, GRID_H, "low")


async def test_long_model_hint_is_capped(fake_openai: FakeOpenAI) -> None:
    fake_openai.configure(mode="long_hint")
    c = chooser(fake_openai, hint_max_words=12)
    hint = await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    assert hint.text is not None and len(hint.text.split()) <= 12 and hint.text.endswith(".")
    assert hint.text.startswith("A person in a blue jacket walks a brown dog")


@pytest.mark.parametrize(("reply", "expected"), [
    ('Caption: "A heron fishes in a pond." It waits.', "A heron fishes in a pond."),
    ("Dr. Ruiz rides a horse at St. Ives.", "Dr. Ruiz rides a horse at St. Ives."),
    ("\n\n  **Answer**: two kids fly a kite\nsecond line", "two kids fly a kite"),
    ("A cat and a dog play with a ball in the garden", "A cat and a dog play."),
    ("   ", None),
])
def test_one_sentence_trims_labels_quotes_and_length(reply: str, expected: str | None) -> None:
    assert one_sentence(reply, 7 if "garden" in reply else 30) == expected


@pytest.mark.parametrize(("order", "manifest", "source"), [
    ("manifest,model,none", "from the manifest", "manifest"),
    ("model,manifest", "from the manifest", "model"),
    ("none", "from the manifest", "none"),
    ("manifest,none", None, "none"),
])
async def test_order_decides_per_clip(fake_openai: FakeOpenAI, order: str, manifest: str | None,
                                      source: str) -> None:
    c = chooser(fake_openai, hint_order=order)
    hint = await c.choose(manifest, "file:///grids/abc.jpg")
    await c.aclose()
    assert hint.source == source
    assert (hint.text is None) == (source == "none")
    assert len(fake_openai.requests) == (1 if source == "model" else 0)


async def test_unconfigured_model_is_skipped(fake_openai: FakeOpenAI) -> None:
    c = HintChooser(HintSettings(hint_order="model,none"), load_grid)
    hint = await c.choose(None, "file:///grids/abc.jpg")
    assert (hint.text, hint.source) == (None, "none") and c.model is None


@pytest.mark.parametrize("fault", ["refusal", "status:400"])
async def test_a_hint_the_model_fails_for_one_clip_falls_through_to_the_next_source(fake_openai: FakeOpenAI,
                                                                                     fault: str) -> None:
    fake_openai.configure(mode=fault)
    c = chooser(fake_openai)
    hint = await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    assert (hint.text, hint.source) == (None, "none")


@pytest.mark.parametrize("fault", ["status:503", "status:429", "hang"])
async def test_a_hint_endpoint_that_does_not_answer_is_an_outage_not_a_missing_hint(fake_openai: FakeOpenAI,
                                                                                     fault: str) -> None:
    fake_openai.configure(mode=fault, hang_s=3)
    c = chooser(fake_openai, hint_timeout_s=0.3)
    with pytest.raises(Unavailable) as caught:
        await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    assert caught.value.dependency == "hint_endpoint"
    assert dependency_down(caught.value) == "hint_endpoint"  # what the runtime waits out, pausing the stage


async def test_rejected_hint_key_stops_the_stage(fake_openai: FakeOpenAI) -> None:
    fake_openai.configure(api_key="another-key")
    c = chooser(fake_openai)
    with pytest.raises(Fatal, match="MIRA_HINT_API_KEY") as caught:
        await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    assert "hint-key" not in caught.value.reason


async def test_model_hint_reaches_the_caption_prompt(fake_openai: FakeOpenAI) -> None:
    fake_openai.configure(hint_reply="A potter shapes a clay bowl on a wheel.")
    c = chooser(fake_openai)
    hint = await c.choose(None, "file:///grids/abc.jpg")
    await c.aclose()
    cap = Captioner(caption_settings(fake_openai))
    try:
        outcome = await cap.caption(GRID, GRID_W, GRID_H, hint.text)
    finally:
        await cap.aclose()
    assert 'this video depicts "A potter shapes a clay bowl on a wheel".' in fake_openai.requests[-1].text
    assert outcome.captions is not None and "A potter shapes a clay bowl on a wheel" in outcome.captions.dense_caption


async def test_redelivered_grid_gets_the_stored_hint_without_a_second_call(
    fake_openai: FakeOpenAI, store_url: str
) -> None:
    """Two replicas (or a restart) given the same grid: one hint call, the same sentence, so the caption
    question does not change; the call itself asks at temperature 0 with the configured seed."""
    with RecordStore.open(store_url) as first_store, RecordStore.open(store_url) as second_store:
        first, second = chooser(fake_openai, first_store, hint_seed=7), chooser(fake_openai, second_store, hint_seed=7)
        hint = await first.choose(None, "file:///grids/abc.jpg", "ab" * 32)
        fake_openai.configure(hint_reply="A different sentence than before.")  # a sampling model drifts
        again = await second.choose(None, "file:///grids/abc.jpg", "ab" * 32)
        other_grid = await second.choose(None, "file:///grids/abc.jpg", "cd" * 32)
        shorter = chooser(fake_openai, first_store, hint_seed=7, hint_max_words=8)
        other_settings = await shorter.choose(None, "file:///grids/abc.jpg", "ab" * 32)
        for c in (first, second, shorter):
            await c.aclose()
    assert hint.source == again.source == "model" and again.text == hint.text
    assert other_grid.text == other_settings.text == "A different sentence than before."  # new keys: asked
    assert len(fake_openai.requests) == 3
    assert {(r.body["temperature"], r.body["seed"]) for r in fake_openai.requests} == {(0, 7)}
