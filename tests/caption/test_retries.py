"""The retry policy against real HTTP failures: what is retried (408/429/5xx, timeouts, dropped connections,
unreadable bodies), how long it waits, and what is never retried (400/401/403/404)."""

from __future__ import annotations

import asyncio

import pytest

from services.caption.captioner import Captioner
from shared.runtime.errors import BadInput, Fatal, Unavailable
from tests.caption.conftest import GRID_H, GRID_W, caption_settings
from tests.fake_openai import FakeOpenAI


@pytest.mark.parametrize("fault", ["status:500", "status:503", "status:408", "garbage", "disconnect"])
async def test_transient_failures_are_retried_until_success(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes, fault: str
) -> None:
    fake_openai.configure(script=[fault, fault])
    outcome = await captioner.caption(grid, GRID_W, GRID_H, "a tram in the rain")
    assert outcome.status == "success" and outcome.captions is not None
    assert [r.fault for r in fake_openai.requests] == [fault, fault, "ok"]
    assert captioner.limiter.stats.retried == 2


async def test_timeout_is_retried(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(script=["hang"], hang_s=5)
    cap = Captioner(caption_settings(fake_openai, caption_timeout_s=0.4))
    try:
        outcome = await cap.caption(grid, GRID_W, GRID_H, None)
    finally:
        await cap.aclose()
    assert outcome.status == "success"
    assert [r.fault for r in fake_openai.requests] == ["hang", "ok"]


async def test_429_waits_for_retry_after_and_pauses_other_requests(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    fake_openai.configure(script=["status:429"], retry_after_s=1)
    first = asyncio.create_task(captioner.caption(grid, GRID_W, GRID_H, "clip 0"))
    while captioner.limiter.stats.rate_limited == 0:
        await asyncio.sleep(0.01)
    outcomes = await asyncio.gather(first, *[captioner.caption(grid, GRID_W, GRID_H, f"clip {i}") for i in (1, 2)])

    assert [o.status for o in outcomes] == ["success"] * 3
    (limited,) = [r for r in fake_openai.requests if r.status == 429]
    assert limited.fault == "status:429"
    # Requests started after the 429 waited out its retry-after too, instead of drawing more 429s.
    later = [r for r in fake_openai.requests if r is not limited]
    assert len(later) == 3 and all(r.at - limited.at >= 0.95 for r in later)


async def test_persistent_server_errors_hand_back_to_the_runtime(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    fake_openai.configure(mode="status:502")
    with pytest.raises(Unavailable, match="caption_endpoint unavailable: model call failed 4 times: 502"):
        await captioner.caption(grid, GRID_W, GRID_H, None)
    assert len(fake_openai.requests) == 4  # MIRA_CAPTION_MAX_RETRIES=3 in these tests, SDK retries off


async def test_auth_failure_is_fatal_with_a_clear_message_and_no_retry(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes
) -> None:
    fake_openai.configure(api_key="the-right-key")
    with pytest.raises(Fatal) as caught:
        await captioner.caption(grid, GRID_W, GRID_H, None)
    assert "rejected the API key (401" in caught.value.reason and "OPENAI_API_KEY" in caught.value.reason
    assert "sk-test-secret" not in caught.value.reason  # the key never reaches logs
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_client_errors_dead_letter_with_the_reason(
    fake_openai: FakeOpenAI, captioner: Captioner, grid: bytes, status: int
) -> None:
    fake_openai.configure(script=[f"status:{status}"])
    with pytest.raises(BadInput, match=f"model request rejected \\({status}\\): fake server error {status}"):
        await captioner.caption(grid, GRID_W, GRID_H, None)
    assert len(fake_openai.requests) == 1


async def test_wrong_key_with_the_right_one_afterwards_works(fake_openai: FakeOpenAI, grid: bytes) -> None:
    fake_openai.configure(api_key="sk-good")
    cap = Captioner(caption_settings(fake_openai, openai_api_key="sk-good"))
    try:
        assert (await cap.caption(grid, GRID_W, GRID_H, None)).status == "success"
    finally:
        await cap.aclose()
    assert fake_openai.requests[0].authorization == "Bearer sk-good"
