"""Image-token rules and prices the caption bill depends on (shared/vision_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.vision_models import _table, cost_usd, grid_size_for, image_tokens, model_spec


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((2048, 576), 1445), ((2048, 512), 765), ((1536, 432), 595), ((1024, 1024), 765), ((2048, 4096), 1105)],
)
def test_gpt4o_tile_rule_matches_the_published_examples(size: tuple[int, int], tokens: int) -> None:
    assert image_tokens("gpt-4o", *size) == tokens
    assert image_tokens("gpt-4o", *size, detail="low") == 85


def test_model_families_bill_differently() -> None:
    assert image_tokens("gpt-4o-mini", 2048, 576) == 2833 + 5667 * 8  # same tiles, large multiplier
    assert image_tokens("gpt-4.1-mini", 1024, 1024) == round(1024 * 1.62)  # 32 px patches
    assert image_tokens("gpt-4.1-nano", 1800, 2400) == round(1452 * 2.46)  # scaled down to fit 1536 patches
    assert image_tokens("gpt-4o-2024-08-06", 2048, 576) == 1445  # dated snapshots use their family's rule
    assert model_spec("gpt-4o-mini-2024-07-18") == model_spec("gpt-4o-mini")
    assert image_tokens("some-local-vlm", 2048, 576) == 1445  # unknown: the GPT-4o rule


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "o3", "gpt-4.1-mini", "gpt-5-nano"])
@pytest.mark.parametrize("aspect", [2 * 16 / 9, 2 * 9 / 16, 2 * 4 / 3, 2 * 2.39, 2.0, 0.2, 12.0])
@pytest.mark.parametrize("budget", [1, 2, 4, 8])
def test_grid_sizes_are_sent_as_is_and_cost_what_was_intended(model: str, aspect: float, budget: int) -> None:
    w, h = grid_size_for(model, budget, aspect)
    spec = model_spec(model)
    if spec.rule == "tile":  # the API would otherwise shrink the image (and we would pay for pixels lost)
        assert max(w, h) <= 2048 and min(w, h) <= 768
        assert image_tokens(model, w, h) <= spec.base_tokens + spec.tile_tokens * budget
    else:
        assert (-(-w // 32)) * (-(-h // 32)) <= min(256 * budget, spec.max_patches)
    assert w / h == pytest.approx(aspect, rel=0.05) or min(w, h) < 200  # tiny budgets round more


def test_costs_use_per_million_prices() -> None:
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert cost_usd("gpt-4o-mini", 2000, 500) == pytest.approx((2000 * 0.15 + 500 * 0.60) / 1e6)


def test_model_table_can_be_overridden_from_a_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "models.json"
    table.write_text(json.dumps({"my-vlm": {"rule": "patch", "multiplier": 2.0}, "*": {"input_per_m": 1.0}}))
    monkeypatch.setenv("MIRA_MODEL_TABLE", str(table))
    assert image_tokens("my-vlm", 64, 64) == 8
    assert cost_usd("unlisted", 1_000_000, 0) == pytest.approx(1.0)
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)  # built-in entries stay
    _table.cache_clear()
