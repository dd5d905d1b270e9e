"""What the caption stage tells Prometheus (the dashboard and alerts in deploy/monitoring read these): money
paid per model, 429 answers of the model endpoint, and the budget beside what has been spent against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.caption.stages import caption_stage, hinted, stage_settings
from tests.fake_openai import FakeOpenAI


def samples(registry_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(registry_text) for s in family.samples}


async def test_spend_429s_and_the_budget_are_on_the_metrics_page(
        fake_openai: FakeOpenAI, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test",
                        "MIRA_BUDGET_USD": "2.5", "MIRA_CAPTION_BACKOFF_BASE_S": "0.02"}.items():
        monkeypatch.setenv(name, value)
    fake_openai.configure(script=["status:429", "status:429"], retry_after_s=0.05)
    settings = stage_settings(tmp_path / "home", store_url)
    async with caption_stage(settings) as stage:
        before = samples(generate_latest(stage.ctx.registry).decode())
        result = await stage.handle(await hinted(settings, "job-1"))
        after = samples(generate_latest(stage.ctx.registry).decode())
    assert result.status == "success" and result.usage.cost_usd > 0
    assert before[("mira_caption_rate_limited_total", ())] == 0
    assert after[("mira_caption_rate_limited_total", ())] == 2
    assert after[("mira_caption_cost_usd_total", (("model", "gpt-4o"),))] == pytest.approx(result.usage.cost_usd)
    assert after[("mira_budget_usd", ())] == 2.5
    assert after[("mira_budget_spent_usd", ())] == pytest.approx(result.usage.cost_usd, abs=1e-9)
