"""Two deliveries of one grid in flight at once in one hint replica, as at-least-once delivery allows (an
upstream replica died before committing and its successor published the grid again): the hint model must be
paid once. `make chaos` found this paid twice (seed 1: eight hint questions).

The stored hint only helps a delivery that comes after the first answer; two in flight together share one
call through the stage's single flight.
"""

from __future__ import annotations

from pathlib import Path

from shared.messages import GridReady, HintReady
from shared.settings import Settings
from shared.topics import Topic
from tests.e2e.test_crash_recovery import hinted_jobs, service, wait_for
from tests.fake_openai.server import FakeOpenAI
from tests.kafka_io import publish, read_all


async def test_two_deliveries_of_one_grid_in_flight_at_once_pay_for_one_hint(
    settings: Settings, tmp_path: Path
) -> None:
    job = (await hinted_jobs(settings, tmp_path))[0]
    grid = GridReady(**job.model_dump(exclude={"hint"}))
    with FakeOpenAI(latency_s=1.0) as fake:
        hint = service("hint", settings, fake, MIRA_HINT_BASE_URL=fake.base_url, MIRA_HINT_API_KEY="sk-test")
        try:
            await publish(settings, grid, grid)  # one key, one partition: both land in the same replica
            await wait_for(lambda: len(fake.chat_requests) >= 1)
            hinted = await read_all(settings, Topic.HINTED, HintReady, expect=2, timeout_s=60)
        finally:
            hint.terminate()
            hint.wait(30)
    assert len(hinted) == 2 and hinted[0].hint == hinted[1].hint and hinted[0].hint.source == "model"
    assert len(fake.chat_requests) == 1
