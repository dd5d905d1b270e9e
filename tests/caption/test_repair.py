"""Quality on every answer and one repair, through the real caption stage, the openai SDK and the fake model
server answering with realistic captions and injected defects, on SQLite and PostgreSQL: a suspect answer is
asked again once naming its problems, the better answer is recorded with both calls' cost, a redelivery
pays for no second repair, and with no hint the model writes the sixth caption type in the same call."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.store import RecordStore
from tests.caption.stages import caption_stage, hinted, stage_settings
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def caption_env(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test",
                        "MIRA_CAPTION_CLAIM_POLL_S": "0.05", "MIRA_CAPTION_BACKOFF_BASE_S": "0.02"}.items():
        monkeypatch.setenv(name, value)


async def test_a_clean_answer_is_ok_after_one_call_and_without_a_hint_the_model_writes_the_short_caption(
    fake_openai: FakeOpenAI, caption_env: None, store_url: str, tmp_path: Path
) -> None:
    settings = stage_settings(tmp_path / "home", store_url)
    with_hint, without = await hinted(settings, "job-1", shade=40), await hinted(settings, "job-2", None, shade=80)
    async with caption_stage(settings) as stage:
        hinted_result = await stage.handle(with_hint)
        bare = await stage.handle(without)
    assert (hinted_result.quality, hinted_result.quality_reasons, hinted_result.repair) == ("ok", [], None)
    assert hinted_result.captions is not None and hinted_result.captions.short_caption is None
    assert bare.quality == "ok" and bare.captions is not None and bare.captions.short_caption
    schemas = [r.body["response_format"]["json_schema"]["schema"]["properties"] for r in fake_openai.chat_requests]
    assert ["short_caption" in s for s in schemas] == [False, True]  # the sixth field only without a hint
    with RecordStore.open(store_url) as store:
        record, _ = store.record(bare)
    assert record.short_caption == bare.captions.short_caption and record.hint_source == "caption_model"
    assert record.quality == "ok" and record.quality_reasons == [] and record.text_hash


async def test_a_suspect_answer_is_repaired_once_and_the_repair_is_kept_with_the_cost_of_both_calls(
    fake_openai: FakeOpenAI, caption_env: None, store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(defect_share=1.0, defects=("narration",))
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as stage:
        result = await stage.handle(message)
    first, second = fake_openai.chat_requests
    assert "narrates frame by frame" in second.text and "Your previous answer has these problems" in second.text
    assert result.quality == "ok" and result.repair == "repaired"
    assert [r.rule for r in result.repair_reasons] == ["narration"]
    assert first.images[0].data == second.images[0].data  # the same grid, asked again
    assert result.usage.image_tokens == 2 * 595  # both calls' tokens, the grid twice
    with RecordStore.open(store_url) as store:
        record, _ = store.record(result)
        assert record.repair == "repaired" and record.repair_reasons and record.repair_reasons[0].rule == "narration"
        assert record.cost_usd == pytest.approx(result.usage.cost_usd)
        assert store.totals().input_tokens == result.usage.input_tokens

    # A redelivery (here a restarted replica) reuses both logged answers: no call, the same captions.
    async with caption_stage(settings) as stage:
        again = await stage.handle(message.model_copy(update={"job_id": "job-1b"}))
    assert len(fake_openai.chat_requests) == 2
    assert again.captions == result.captions and again.usage.cost_usd == 0


async def test_a_repair_that_is_no_better_keeps_the_first_answer_as_suspect(
    fake_openai: FakeOpenAI, caption_env: None, store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(defect_share=1.0, defects=("markup",), repairs_fix=0.0)
    settings = stage_settings(tmp_path / "home", store_url)
    message = await hinted(settings, "job-1")
    async with caption_stage(settings) as stage:
        result = await stage.handle(message)
        again = await stage.handle(message.model_copy(update={"job_id": "job-1b"}))
    assert len(fake_openai.chat_requests) == 2  # asked twice at most, and the redelivery pays nothing
    assert (result.quality, result.repair) == ("suspect", "kept_first")
    assert [r.rule for r in result.quality_reasons] == ["markup"]
    assert again.captions == result.captions and again.usage.cost_usd == 0


async def test_with_repair_off_a_suspect_answer_is_recorded_as_suspect_after_one_call(
    fake_openai: FakeOpenAI, caption_env: None, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRA_CAPTION_REPAIR", "off")
    fake_openai.configure(defect_share=1.0, defects=("refusal",))
    settings = stage_settings(tmp_path / "home", store_url)
    async with caption_stage(settings) as stage:
        result = await stage.handle(await hinted(settings, "job-1"))
    assert len(fake_openai.chat_requests) == 1
    assert result.quality == "suspect" and result.repair is None
    assert [(r.rule, r.field) for r in result.quality_reasons] == [("refusal", "dense_caption")]
    quoted = result.quality_reasons[0].detail.rsplit('"', 2)[1]  # the offending words, as written
    assert result.captions is not None and quoted in result.captions.dense_caption


async def test_the_same_caption_on_another_grid_is_a_duplicate_and_repaired(
    fake_openai: FakeOpenAI, caption_env: None, store_url: str, tmp_path: Path
) -> None:
    fake_openai.configure(defect_share=1.0, defects=("duplicate",))
    settings = stage_settings(tmp_path / "home", store_url)
    async with caption_stage(settings) as stage:
        first = await stage.handle(await hinted(settings, "job-1", shade=30))
        second = await stage.handle(await hinted(settings, "job-2", shade=150))
    assert first.quality == "ok"  # nobody had this text yet
    assert second.repair == "repaired" and [r.rule for r in second.repair_reasons] == ["duplicate"]
    assert "the answer for grid" in second.repair_reasons[0].detail
    assert second.captions is not None and first.captions is not None
    assert second.captions.dense_caption != first.captions.dense_caption
