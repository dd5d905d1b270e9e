"""The ingest API a client can build on: its OpenAPI 3.1 document is served and committed (docs/ingest-api.json,
the same text), GET /v1/clips/{clip_id} and /v1/jobs/{job_id} follow a submission to its record behind the
same tokens, and schemathesis, generating requests from the served document, finds no 5xx and no answer
that differs from what the document says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.ingest.openapi import text
from shared.settings import Settings
from shared.store import RecordStore
from tests.security.ingest_service import OTHER_TOKEN, TOKEN, bearer, running_ingest
from tests.store.factories import result

ROOT = Path(__file__).resolve().parents[2]
CLIP = {"source": "https://videos.example.com/a.mp4", "start_s": 1, "end_s": 4}


def test_the_committed_document_is_the_one_the_code_generates() -> None:
    committed = (ROOT / "docs" / "ingest-api.json").read_text()
    assert committed == text(), "regenerate it: python -m services.ingest.openapi > docs/ingest-api.json"


async def test_a_submission_is_followed_to_its_record_behind_the_same_tokens(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_ingest(settings, monkeypatch) as ingest, aiohttp.ClientSession() as http:
        base = ingest.url.removesuffix("/v1/clips")
        spec = await http.get(f"{base}/v1/openapi.json")  # no token needed: it holds no data
        assert spec.status == 200 and await spec.text() == text()
        accepted = await (await http.post(ingest.url, json=CLIP, headers=bearer())).json()
        clip_id, job_id = accepted["clips"][0]["clip_id"], accepted["clips"][0]["job_id"]

        async def get(path: str, token: str | None = OTHER_TOKEN) -> tuple[int, dict[str, object]]:
            answer = await http.get(f"{base}{path}", headers=bearer(token) if token else {})
            return answer.status, await answer.json()

        assert await get(f"/v1/jobs/{job_id}") == (200, {
            "job_id": job_id, "clip_id": clip_id, "status": "in_progress", "stage": "ingest", "version": None,
            "reason": None})  # any valid token may ask: tokens are not tenants
        assert await get(f"/v1/clips/{clip_id}") == (200, {
            "clip_id": clip_id, "job_id": job_id, "status": "in_progress", "stage": "ingest",
            "latest_version": None, "reason": None})
        assert settings.database_url is not None
        with RecordStore.open(settings.database_url) as store:  # what the sink writes when the model refuses
            store.record(result(clip_id, job_id, status="refused"))
        status, job = await get(f"/v1/jobs/{job_id}")
        assert status == 200 and (job["status"], job["stage"], job["version"]) == ("refused", "sink", 1)
        assert job["reason"] == "refused by the test"
        status, clip = await get(f"/v1/clips/{clip_id}")
        assert (clip["status"], clip["latest_version"], clip["job_id"]) == ("refused", 1, job_id)

        assert (await get(f"/v1/jobs/{job_id}", token=None))[0] == 401
        assert (await get(f"/v1/jobs/{job_id}", token=TOKEN + "x"))[0] == 401
        status, missing = await get("/v1/clips/never-submitted")
        assert status == 404 and missing == {"error": "no clip never-submitted was submitted here"}
        status, bad = await get("/v1/jobs/a%20b")
        assert status == 422 and "is not an id" in str(bad["error"])
        status, wrong_method = await get("/v1/nothing-here")
        assert status == 404 and "error" in wrong_method  # JSON like every other answer


# Every check but positive_data_acceptance: a request the document allows may still be refused by the
# stage's own rules (an empty range, a hint over MIRA_MAX_HINT_CHARS), which the document lists as 422/409.
EXCLUDED = [positive_data_acceptance]


def fuzz(base: str, examples: int) -> list[str]:
    """Every operation of the served document, with valid and invalid requests; the failures found."""
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    failures: list[str] = []
    for operation in (found.ok() for found in schema.get_all_operations()):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                                 suppress_health_check=list(hypothesis.HealthCheck))
            def call(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base, headers=bearer(), excluded_checks=EXCLUDED, timeout=30)

            try:
                call()
            except Exception as exc:  # noqa: BLE001 - a failed check: collect them all, then report
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_ingest(settings, monkeypatch, api_rate_per_s="1000", api_rate_burst="1000") as ingest:
        failures = await asyncio.to_thread(fuzz, ingest.url.removesuffix("/v1/clips"), 40)
    assert not failures, "\n\n".join(failures)
