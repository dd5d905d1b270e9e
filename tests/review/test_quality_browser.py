"""Quality on the review page, in headless Chromium over a store of realistic answers checked by the rules:
the gallery filters by quality and rule (and the filter survives a reload), the words a rule flagged are
marked in the caption without changing its text, and a reviewer's verdict on a version is kept with who and
when, filters the gallery, reaches `mira export` and selects clips for `mira recaption --verdict`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cli.localmodel.corpus import clean, defective
from shared.blobstore import FileBlobStore
from shared.qa.rules import Context, check
from shared.store import RecordStore
from tests.review.browser import ReviewProcess, grid_images_loaded, new_page, screenshot
from tests.review.conftest import review_env
from tests.review.seeding import Seeded, render_grids
from tests.store.factories import result

# clip -> the rule its answer breaks (None: clean)
CLIPS = {"q-medium": "medium", "q-cut": "cut_off", "q-narration": "narration", "q-ok-1": None, "q-ok-2": None,
         "q-ok-3": None}


def _seed(folder: Path) -> Seeded:
    database_url, blobs = f"sqlite:///{folder / 'mira.db'}", FileBlobStore(folder / "blobs")
    grids = render_grids(folder / "videos", blobs)
    with RecordStore.open(database_url) as store:
        for i, (clip, rule) in enumerate(CLIPS.items()):
            answer, hint = clean(i)
            if rule is not None:
                answer = defective(answer, hint, rule, i)
            reasons = check(answer.parts(), Context(hint=hint))
            base = result(clip, f"job-{clip}", hint=hint, caps=answer, grid_sha256=grids[i].sha256)
            store.record(base.model_copy(update={"grid": grids[i], "quality": "suspect" if reasons else "ok",
                                                 "quality_reasons": reasons,
                                                 "repair": "kept_first" if reasons else None,
                                                 "repair_reasons": reasons}))
    return Seeded(database_url, blobs.url, len(CLIPS), len(CLIPS))


@pytest.fixture(scope="module")
def seeded_quality(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    with ThreadPoolExecutor(1) as worker:  # the blob store is asyncio; the browser may own this thread's loop
        return worker.submit(_seed, tmp_path_factory.mktemp("quality-store")).result()


@pytest.fixture(scope="module")
def env(seeded_quality: Seeded, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return review_env(tmp_path_factory.mktemp("quality-home") / "mira", seeded_quality)


@pytest.fixture(scope="module")
def review(browser: Any, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("quality-log") / "review.log"
    server = ReviewProcess(env, log=log)
    yield server.url
    assert server.stop() == 0, log.read_text()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = new_page(browser)
    yield opened
    opened.context.close()


def shown(page: Any) -> list[str]:
    return page.eval_on_selector_all("article.card", "cards => cards.map(c => c.dataset.clip)")  # type: ignore[no-any-return]


def mira(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_gallery_filters_by_quality_and_rule_and_the_filter_survives_a_reload(
    page: Any, review: str, tmp_path: Path
) -> None:
    page.goto(review + "/")
    assert sorted(shown(page)) == sorted(CLIPS)
    page.select_option("select[name=quality]", "suspect")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**quality=suspect*")
    assert sorted(shown(page)) == sorted(c for c, rule in CLIPS.items() if rule)
    page.select_option("select[name=rule]", "cut_off")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**rule=cut_off*")
    assert shown(page) == ["q-cut"]
    page.reload()
    assert shown(page) == ["q-cut"] and page.eval_on_selector("select[name=rule]", "s => s.value") == "cut_off"
    page.goto(review + "/?quality=ok")
    assert sorted(shown(page)) == sorted(c for c, rule in CLIPS.items() if rule is None)
    assert page.goto(review + "/?rule=nonsense").status == 400


def test_the_offending_words_are_marked_in_the_caption_without_changing_it(
    page: Any, review: str, seeded_quality: Seeded, tmp_path: Path
) -> None:
    page.goto(review + "/?quality=suspect")
    assert all(w > 0 for w in grid_images_loaded(page))
    with RecordStore.open(seeded_quality.database_url) as store:
        for clip, rule in CLIPS.items():
            if rule is None:
                continue
            record = store.latest(clip)
            assert record is not None and record.quality_reasons
            reason = next(r for r in record.quality_reasons if r.rule == rule)
            card = page.locator(f"article.card[data-clip='{clip}']")
            marked = card.locator(f"dd[data-type={reason.field}] mark.qa[data-rule={rule}]").all_inner_texts()
            assert marked and " ".join(marked[0].split()) == reason.detail.rsplit('"', 2)[1], (clip, marked)
            text = card.locator(f"dd[data-type={reason.field}]").inner_text()
            assert " ".join(text.split()) == " ".join((getattr(record, reason.field) or "").split())
            assert rule in card.locator("ul.reasons").inner_text()
    screenshot(page, tmp_path, "gallery-quality")


def test_a_verdict_is_kept_with_who_and_when_and_reaches_export_and_recaption(
    page: Any, review: str, env: dict[str, str], tmp_path: Path
) -> None:
    page.goto(review + "/clips/q-medium")
    form = page.locator("article.version[data-version='1'] form.verdict")
    form.locator("input[name=by]").fill("ana")
    form.locator("button[value=rejected]").click()
    page.wait_for_url("**/clips/q-medium")
    given = page.locator("article.version[data-version='1'] form.verdict .given").inner_text()
    assert given.startswith("rejected by ana, ") and given.endswith(" UTC")
    screenshot(page, tmp_path, "verdict")

    page.goto(review + "/clips/q-ok-1")  # the name is remembered for the next verdict
    assert page.locator("form.verdict input[name=by]").input_value() == "ana"
    page.locator("form.verdict button[value=accepted]").click()
    page.wait_for_url("**/clips/q-ok-1")

    page.goto(review + "/?verdict=rejected")
    assert shown(page) == ["q-medium"]
    assert page.locator("article.card .badge.verdict-rejected").count() == 1

    out = tmp_path / "records.jsonl"
    assert mira(env, "export", "--format", "jsonl", "-o", str(out)).returncode == 0
    rows = {row["clip_id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert (rows["q-medium"]["verdict"], rows["q-medium"]["verdict_by"]) == ("rejected", "ana")
    assert rows["q-ok-1"]["verdict"] == "accepted" and rows["q-ok-1"]["verdict_at"]
    assert rows["q-cut"]["verdict"] is None
    dry = mira(env, "recaption", "--verdict", "rejected", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("would recaption 1 clip with"), dry.stdout + dry.stderr


def test_a_verdict_without_the_form_token_is_refused(page: Any, review: str) -> None:
    page.goto(review + "/clips/q-cut")
    answer = page.request.post(review + "/clips/q-cut/verdict",
                               form={"version": "1", "verdict": "rejected", "by": "mallory", "csrf": "forged"})
    assert answer.status == 403
    page.reload()
    assert page.locator("form.verdict .given").count() == 0
