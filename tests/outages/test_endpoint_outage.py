"""The caption and hint endpoints refusing connections for 15 s, then answering 503 for 15 s (60 s each in
`make chaos`), mid-run (the
model server behind a TCP proxy that is stopped, then faulted), two hint and two caption replicas as
separate processes: every clip is recorded once with its model-made hint, nothing is dead-lettered, nothing
paid twice, `mira caption --wait` exits 0. Each phase outlasts the stages' own retries (shortened here), so
what is shown is the runtime waiting the outage out."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings
from shared.store.records import RecordStore
from tests.fake_openai.server import FakeOpenAI
from tests.outages.pipeline import OutagePipeline, Seen, longer_in_chaos
from tests.outages.proxy import Proxy
from tests.outages.test_record_store_outage import assert_outage_cost_only_time

ENDPOINTS = "caption_endpoint|hint_endpoint"


@pytest.mark.parametrize("phase_s", longer_in_chaos(15.0, 60.0))
async def test_model_endpoints_refusing_then_answering_503_cost_time_not_clips(settings: Settings, tmp_path: Path,
                                                                              phase_s: float) -> None:
    with FakeOpenAI(latency_s=0.5) as fake, Proxy(fake.host, fake.port) as proxy:
        endpoint = {"OPENAI_BASE_URL": f"{proxy.url}/v1", "MIRA_HINT_BASE_URL": f"{proxy.url}/v1"}
        run = OutagePipeline(settings, fake, tmp_path, clip_count=30, replicas={"hint": 2, "caption": 2},
                             env={**endpoint, "MIRA_MAX_IN_FLIGHT": "2", "MIRA_CAPTION_MAX_IN_FLIGHT": "2"})
        await run.start()
        command = run.submit()
        await run.until(lambda: sum(c.kind == "caption" for c in fake.calls) >= 2, 300, "the first captions are asked")
        seen = Seen()
        proxy.stop()
        await run.watch(("hint", "caption"), ENDPOINTS, phase_s, seen)
        fake.configure(mode="status:503")
        proxy.start()
        await run.watch(("hint", "caption"), ENDPOINTS, phase_s, seen)
        fake.configure(mode="ok")
        result = await run.finish(command, ENDPOINTS, seen)
    assert_outage_cost_only_time(result, "caption_endpoint", "hint_endpoint")
    assert settings.database_url
    with RecordStore.open(settings.database_url) as store:
        assert {r.hint_source for r in store.iter_records()} == {"model"}  # no clip lost its hint meanwhile
