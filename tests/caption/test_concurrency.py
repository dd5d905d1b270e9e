"""The in-flight controller: Little's law on the rate budget and the latency, cut by 429s, within its bounds.

Pure logic first (time is passed in), then one run through the real Captioner, limiter, SDK and the fake
server showing one replica keeps far more than the old fixed 256 requests out when rate x latency asks.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from services.caption.captioner import Captioner
from services.caption.concurrency import CUT_FACTOR, InFlightController
from services.caption.ratelimit import Slots, caption_client, connection_limits
from shared.messages import Hint
from tests.caption.conftest import caption_settings, make_grid
from tests.caption.stages import caption_stage, hinted, stage_settings
from tests.fake_openai import FakeOpenAI


def steady(control: InFlightController, seconds: float, answers: int = 200) -> None:
    for _ in range(answers):
        control.answered(seconds)


def test_before_any_answer_only_the_cap_bounds_it() -> None:
    assert InFlightController(1, 2048, 100.0).limit == 2048


def test_ramps_to_rate_times_latency() -> None:
    control = InFlightController(1, 4096, 10_000 / 60)  # 10,000 requests a minute
    control.answered(6.0)  # the first answer: its deviation is taken as half the latency (RFC 6298)
    assert control.limit == math.ceil(10_000 / 60 * (6.0 + 4 * 3.0)) + 1
    steady(control, 6.0)
    # Steady 6 s answers: 1.5 latencies planned, so 1,500 out where Little's law needs 1,000.
    assert control.limit == pytest.approx(math.ceil(10_000 / 60 * 9.0) + 1, abs=1)
    assert control.limit > 256


def test_respects_the_cap_and_the_floor() -> None:
    control = InFlightController(1, 1000, 10_000 / 60)
    steady(control, 6.0)
    assert control.limit == 1000
    slow = InFlightController(20, 1000, 1.0)  # one request a second at 0.1 s needs 2: the floor holds 20
    steady(slow, 0.1)
    assert slow.limit == 20


def test_shrinks_when_latency_falls_and_when_the_rate_is_learned_down() -> None:
    control = InFlightController(1, 4096, 100.0)
    steady(control, 6.0)
    assert control.limit == pytest.approx(901, abs=1)  # (a smoothed latency may end a hair off the mark)
    steady(control, 1.0)
    assert control.limit == pytest.approx(151, abs=1)  # Little's law follows the latency down
    control.set_rate(50.0)  # the server's headers say the budget is half
    assert control.limit == pytest.approx(76, abs=1)


def test_cuts_on_429_once_per_latency_and_recovers() -> None:
    control = InFlightController(1, 4096, 100.0)
    steady(control, 2.0)
    target = control.limit
    assert target == pytest.approx(301, abs=1)
    assert control.rate_limited(now=100.0, out=300)
    cut = control.limit
    assert cut == math.floor(CUT_FACTOR * 300)
    assert not control.rate_limited(now=101.0, out=cut)  # the same storm, within one latency: no second cut
    assert control.limit == cut
    assert control.rate_limited(now=102.5, out=cut)  # a latency later, still 429s: cut again
    assert control.limit == math.floor(CUT_FACTOR * cut)
    assert control.cuts == 2
    # Answers give the window back: about an eighth of the target per latency's worth of answers.
    answers = 0
    while control.limit < target:
        control.answered(2.0)
        answers += 1
        assert answers < 20 * target, "never recovered"
    assert control.limit == target
    assert answers > target  # gradual (more than one latency's worth of answers), not a jump


def test_a_cut_never_goes_below_the_floor() -> None:
    control = InFlightController(8, 100, 10.0)
    for n in range(10):
        control.rate_limited(now=n * 10.0, out=1)
    assert control.limit == 8


def test_connection_pool_follows_the_cap() -> None:
    settings = caption_settings(FakeOpenAI(), caption_max_in_flight=3000)
    assert connection_limits(settings).max_connections >= 3000
    assert connection_limits(settings).max_keepalive_connections >= 3000


async def test_one_replica_keeps_far_more_than_256_out(fake_openai: FakeOpenAI) -> None:
    """9,000 requests a minute at 8 s each need about 1,200 out: 600 clips all go out before the first
    answer returns. The server counts what it is answering at once."""
    fake_openai.configure(latency_s=8.0)
    width, height = 256, 72  # a small grid: the server decodes every image, on the same two cores
    grid = make_grid(width, height)
    settings = caption_settings(fake_openai, caption_rpm=9000, caption_tpm=100_000_000, caption_timeout_s=60.0)
    cap = Captioner(settings, client=caption_client(settings))
    loads = 0

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        assert loads <= cap.limiter.stats.sent  # read only once its request was let out
        return grid

    try:
        outcomes = await asyncio.gather(*[cap.caption(load, width, height, f"clip {i}") for i in range(600)])
    finally:
        await cap.aclose()
    assert [o.status for o in outcomes] == ["success"] * 600
    assert fake_openai.peak_out >= 400, fake_openai.peak_out  # a loaded machine sends slower than 150/s
    assert cap.limiter.suggested_in_flight > 256
    assert cap.limiter.stats.rate_limited == 0


async def test_the_caption_stage_keeps_far_more_than_256_out(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """The same through the stage's handler: claims, the answer log, grids read from the blob store, quality
    checks. The consumer may hold more than 256 messages, and 600 distinct questions are each paid once."""
    fake_openai.configure(latency_s=8.0)
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test", "MIRA_CAPTION_REPAIR": "off",
           "MIRA_CAPTION_RPM": "9000", "MIRA_CAPTION_TPM": "100000000", "MIRA_CAPTION_TIMEOUT_S": "60"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = stage_settings(tmp_path, f"sqlite:///{tmp_path / 'mira.db'}")
    async with caption_stage(settings) as stage:
        assert stage.in_flight_limit(settings.max_in_flight) > 256  # before any answer: the cap
        first = await hinted(settings, "job-0")
        messages = [first.model_copy(update={"job_id": f"job-{i}", "hint": Hint(text=f"clip {i}", source="manifest")})
                    for i in range(600)]
        results = await asyncio.gather(*[stage.handle(m) for m in messages])
    assert [r.status for r in results] == ["success"] * 600
    assert fake_openai.peak_out >= 400, fake_openai.peak_out
    assert len(fake_openai.chat_requests) == 600  # every question paid once


@pytest.mark.parametrize("detail", ["high"])
def test_the_grid_placeholder_is_filled_only_when_sent(detail: str) -> None:
    from services.caption import request

    msgs = request.messages(None, "a dog", detail, structured=True)
    assert request.GRID_PLACEHOLDER in str(msgs) and "base64" not in str(msgs)
    filled, images = request.with_grid(msgs, make_grid(256, 72))
    assert "data:image/jpeg;base64," in filled[0]["content"][1]["image_url"]["url"]
    assert images == [filled[0]["content"][1]["image_url"]]
    assert msgs[0]["content"][1]["image_url"]["url"] == request.GRID_PLACEHOLDER  # the original is kept


async def test_slots_wake_the_next_waiter_when_a_woken_one_is_cancelled() -> None:
    slots = Slots(1)
    await slots.__aenter__()  # the one slot is taken
    first = asyncio.create_task(slots.__aenter__())
    second = asyncio.create_task(slots.__aenter__())
    await asyncio.sleep(0)
    await slots.__aexit__()  # wakes one waiter only (the first) ...
    first.cancel()  # ... which is cancelled before it runs: its wake-up must pass to the second
    async with asyncio.timeout(5):
        await second
    assert first.cancelled() and slots.used == 1
