"""Send back, end to end: `mira up` with the local OpenAI-compatible server, `mira review` on the same
MIRA_HOME, and Chromium ticking clips in a filtered gallery, reading the dry-run estimate, and publishing.
The recaption request goes through Kafka to the recaption, hint, caption and sink services, and the
clips get new versions by the chosen model (their stored grids reused); then the whole filter is sent back.
A request that selects nothing is dead-lettered, and the failures page reads it from the running pipeline."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shared.broker import joined
from shared.messages import RecaptionRequest
from shared.settings import Settings, as_env
from shared.store import RecordStore
from tests.conftest import FAST_GROUPS
from tests.e2e.conftest import Up
from tests.fake_openai.fixtures import fake_openai_of_its_own  # noqa: F401 (fixture fake_openai: the local server)
from tests.fake_openai.server import FakeOpenAI
from tests.kafka_io import publish
from tests.review.browser import ReviewProcess, new_page, screenshot
from tests.review.conftest import review_env
from tests.review.seeding import CLIPS, latest_status, seed, versions_of

pytestmark = pytest.mark.e2e


def wait_for_versions(database_url: str, expected: dict[str, int], timeout_s: float = 180) -> dict[str, Any]:
    """The newest record of each clip once every clip reached its expected version."""
    deadline = time.monotonic() + timeout_s
    with RecordStore.open(database_url) as store:
        while True:
            latest = {c: store.latest(c) for c in expected}
            if all(r is not None and r.version >= expected[c] for c, r in latest.items()):
                return latest
            assert time.monotonic() < deadline, {c: r and r.version for c, r in latest.items()}
            time.sleep(0.5)


def dead_letters(page: Any, url: str) -> str:
    page.goto(url + "/failures")
    table = page.locator("#dead-letters tr:has(td)")
    return "\n".join(table.all_inner_texts()) if table.count() else page.locator("main").inner_text()


def test_send_back_publishes_requests_that_produce_new_versions(
    tmp_path: Path, browser: Any, fake_openai: FakeOpenAI,
) -> None:
    seeded = seed(tmp_path / "store")
    fast = as_env(FAST_GROUPS)
    env = review_env(tmp_path / "home", seeded, OPENAI_BASE_URL=fake_openai.base_url,
                     OPENAI_API_KEY="sk-test-secret-123", MIRA_COMMIT_INTERVAL_S="0.2", **fast)
    failed = [f"clip-{i:04d}" for i in range(CLIPS) if latest_status(i) == "failed"]
    version = {c: versions_of(int(c[5:])) for c in failed}
    up = Up(env)
    review = ReviewProcess(env, log=tmp_path / "review.log")
    page = new_page(browser)
    try:
        page.goto(review.url + "/?status=failed")
        ticked = failed[-2:]
        for clip in ticked:
            page.check(f"article.card[data-clip='{clip}'] input[name=clip]")
        page.fill("input[name=with_model]", "gpt-4o-mini")
        page.click("button[name=scope][value=selected]")
        assert "2 clips" in page.locator("#estimate").inner_text()
        assert float(page.locator("#estimate .cost").inner_text().lstrip("$")) > 0
        assert not fake_openai.requests  # the estimate is a dry run
        screenshot(page, tmp_path / "shots", "send-back")
        page.click("#publish")
        request_id = page.locator("#published code").inner_text()

        first = wait_for_versions(seeded.database_url, {c: version[c] + 1 for c in ticked})
        assert {(r.status, r.model, r.request_id) for r in first.values()} == {("success", "gpt-4o-mini", request_id)}
        assert len(fake_openai.chat_requests) == 2
        with RecordStore.open(seeded.database_url) as store:  # the clips not ticked are untouched
            assert all(store.latest(c).version == version[c] for c in failed[:-2])  # type: ignore[union-attr]

        page.goto(review.url + "/?status=failed")  # the two recaptioned clips no longer fail
        assert page.locator("article.card").count() == len(failed) - 2
        page.click("button[name=scope][value=filter]")
        assert f"{len(failed) - 2} clips" in page.locator("#estimate").inner_text()
        page.click("#publish")
        rest = wait_for_versions(seeded.database_url, {c: version[c] + 1 for c in failed[:-2]})
        assert {r.status for r in rest.values()} == {"success"}
        page.goto(review.url + "/?status=failed")
        assert page.locator("article.card").count() == 0

        pipeline = json.loads((tmp_path / "home" / "pipeline.json").read_text())
        empty = RecaptionRequest(request_id="selects-nothing")  # the recaption stage dead-letters it
        with ThreadPoolExecutor(1) as worker:  # the browser owns this thread's event loop
            worker.submit(asyncio.run, publish(joined(Settings(), pipeline), empty)).result()
        deadline = time.monotonic() + 60
        while "selects nothing" not in (letters := dead_letters(page, review.url)):
            assert time.monotonic() < deadline, letters
            time.sleep(1)
        assert letters.startswith("1\trecaption\tthe request selects nothing")
        screenshot(page, tmp_path / "shots", "failures-running")
    finally:
        page.context.close()
        assert review.stop() == 0
        assert up.stop() == 0
    assert len(fake_openai.chat_requests) == len(failed)  # each clip paid for once
