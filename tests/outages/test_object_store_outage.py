"""The object store unreachable for 30 s mid-run (the S3-compatible test server behind a TCP proxy that is
stopped, so the grids already stored survive), two framegrid and two caption replicas as separate processes:
every clip is recorded once, nothing is dead-lettered, nothing paid twice, `mira caption --wait` exits 0."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.settings import Settings
from tests.fake_openai.server import FakeOpenAI
from tests.outages.pipeline import OutagePipeline, Seen
from tests.outages.proxy import Proxy
from tests.outages.test_record_store_outage import assert_outage_cost_only_time

OUTAGE_S = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3:
    proxy: Proxy  # what the pipeline talks to
    direct: Any  # a client of the server itself, past the proxy

    def stored(self) -> int:
        return int(self.direct.list_objects_v2(Bucket="grids").get("KeyCount", 0))


@pytest.fixture
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                              aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        client.create_bucket(Bucket="grids")
        with Proxy(host, port) as proxy:
            yield S3(proxy, client)
    finally:
        server.stop()


async def test_s3_unreachable_for_30s_costs_time_not_clips(settings: Settings, tmp_path: Path, s3: S3) -> None:
    blobs = {"MIRA_BLOB_URL": "s3://grids/outage", "MIRA_S3_ENDPOINT_URL": s3.proxy.url, **CREDENTIALS}
    with FakeOpenAI(latency_s=0.5) as fake:
        run = OutagePipeline(settings, fake, tmp_path, clip_count=30, replicas={"framegrid": 2, "caption": 2},
                             env=blobs)
        await run.start()
        command = run.submit()
        await run.until(lambda: s3.stored() >= 2, 300, "the first grids are stored")
        s3.proxy.stop()
        seen = Seen()
        await run.watch(("framegrid", "caption"), "object_store", OUTAGE_S, seen)
        s3.proxy.start()
        result = await run.finish(command, "object_store", seen)
    assert_outage_cost_only_time(result, "object_store")
    assert "framegrid" in result.seen.stages
