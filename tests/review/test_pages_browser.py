"""The review page in headless Chromium over a store of 300 clips in up to three versions (600 records) with
real grids: every grid loads, the captions shown are the stored ones, a filter narrows the cards and survives
a reload, the clip page marks the words that changed between two versions, failures and stats add up, and
"send back" without a running pipeline shows its estimate and says how to start one. Screenshots of each
page go to the test's tmp folder and docs/review/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.store import RecordStore
from tests.review.browser import ReviewProcess, grid_images_loaded, new_page, screenshot
from tests.review.conftest import review_env
from tests.review.seeding import CLIPS, COLOURS, PLACES, Seeded, latest_status, versions_of

CAPTION_TYPES = ("short_caption", "dense_caption", "main_object_caption", "background_caption",
                 "camera_caption", "style_caption")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def review(browser: Any, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("review-home")
    server = ReviewProcess(review_env(home / "mira", seeded), log=home / "review.log")
    yield server.url
    assert server.stop() == 0, (home / "review.log").read_text()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = new_page(browser)
    yield opened
    opened.context.close()


def cards(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "article.card",
        """cards => cards.map(c => ({
            clip: c.dataset.clip, status: c.dataset.status, model: c.dataset.model, version: +c.dataset.version,
            captions: Object.fromEntries([...c.querySelectorAll('dd[data-type]')].map(d => [d.dataset.type, d.innerText])),
        }))""",
    )


def test_gallery_shows_every_grid_and_the_stored_captions(page: Any, review: str, seeded: Seeded, shots: Path) -> None:
    page.goto(review + "/")
    widths = grid_images_loaded(page)
    shown = cards(page)
    assert len(shown) == 24 and len(widths) == 24 and all(w > 0 for w in widths), widths
    screenshot(page, shots, "gallery")
    with RecordStore.open(seeded.database_url) as store:
        for card in shown:
            stored = store.latest(card["clip"])
            assert stored is not None and card["version"] == stored.version == versions_of(int(card["clip"][5:]))
            for t in CAPTION_TYPES:
                assert card["captions"][t] == (getattr(stored, t) or "none"), (card["clip"], t)

    page.click("a.next")  # keyset pagination: the next 24, none repeated
    assert "after=" in page.url
    assert all(w > 0 for w in grid_images_loaded(page))
    assert not {c["clip"] for c in cards(page)} & {c["clip"] for c in shown}


def test_a_filter_narrows_the_cards_and_survives_a_reload(page: Any, review: str, shots: Path) -> None:
    failed = sorted(f"clip-{i:04d}" for i in range(CLIPS) if latest_status(i) == "failed")
    page.goto(review + "/")
    page.select_option("select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?status=failed*")
    narrowed = cards(page)
    assert sorted(c["clip"] for c in narrowed) == failed and {c["status"] for c in narrowed} == {"failed"}
    assert all(w > 0 for w in grid_images_loaded(page))
    screenshot(page, shots, "gallery-filtered")
    page.reload()
    assert cards(page) == narrowed
    assert page.eval_on_selector("select[name=status]", "s => s.value") == "failed"

    page.goto(review + "/?versions=several&text=WHITE+FOX")  # case-insensitive words of version 3 only
    several = cards(page)
    assert several and all(c["version"] == 3 and "white fox" in c["captions"]["dense_caption"] for c in several)


def test_the_clip_page_marks_the_words_that_changed(page: Any, review: str, seeded: Seeded, shots: Path) -> None:
    page.goto(review + "/clips/clip-0002")
    assert page.locator("article.version").count() == 3  # every version side by side
    page.select_option("select[name=a]", "1")
    page.select_option("select[name=b]", "3")
    page.click("form.pick button")
    page.wait_for_url("**/clips/clip-0002?a=1&b=3")
    dense = page.locator("dd.diff-dense_caption")
    assert dense.locator("del").all_inner_texts() == [COLOURS[0], PLACES[0]]
    assert dense.locator("ins").all_inner_texts() == [COLOURS[2], PLACES[2]]
    assert page.locator("dd.diff-style_caption del, dd.diff-style_caption ins").count() == 0  # unchanged
    assert page.locator("dd.diff-camera_caption ins").all_inner_texts() == ["Slow pan following the fox."]
    assert all(w > 0 for w in grid_images_loaded(page))
    with RecordStore.open(seeded.database_url) as store:
        latest = store.latest("clip-0002")
    assert latest is not None and latest.version == 3
    times = ", ".join(f"{t:.2f}" for t in latest.frame_times_s)
    assert f"frames at {times} s" in page.locator("article.version[data-version='3'] ul.facts").inner_text()
    screenshot(page, shots, "clip")


def test_failures_and_stats_add_up(page: Any, review: str, seeded: Seeded, shots: Path) -> None:
    page.goto(review + "/failures")
    rows = page.eval_on_selector_all("#stored-failures tr:has(td)", "rs => rs.map(r => r.innerText.split('\\t'))")
    expected = {s: sum(latest_status(i) == s for i in range(CLIPS)) for s in ("failed", "refused")}
    assert {r[1]: int(r[0]) for r in rows} == expected
    assert "mira up" in page.locator("p.notice").inner_text()  # no pipeline: says how to start one
    screenshot(page, shots, "failures")

    page.goto(review + "/stats")
    page.wait_for_function("document.querySelector('img.histogram').complete")
    assert page.eval_on_selector("img.histogram", "i => i.naturalWidth") > 0
    with RecordStore.open(seeded.database_url) as store:
        totals = store.totals()
    costs = page.locator("#usage td.cost").all_inner_texts()
    assert abs(sum(float(c.lstrip("$")) for c in costs) - totals.cost_usd) < 1e-3
    counted = int(page.locator("#lengths tr[data-type=dense_caption] td").nth(1).inner_text())
    assert counted == totals.latest_by_status["success"]  # failed and refused versions carry no captions
    screenshot(page, shots, "stats")


def test_send_back_without_a_pipeline_estimates_and_says_how_to_start_one(page: Any, review: str) -> None:
    page.goto(review + "/")
    ticked = [c["clip"] for c in cards(page)[:2]]
    for clip in ticked:
        page.check(f"article.card[data-clip='{clip}'] input[name=clip]")
    page.click("button[name=scope][value=selected]")
    estimate = page.locator("#estimate").inner_text()
    assert "2 clips" in estimate and float(page.locator("#estimate .cost").inner_text().lstrip("$")) > 0
    assert "mira up" in page.locator("#no-pipeline").inner_text()
    assert page.locator("#publish").count() == 0
