"""The /v1/files and /v1/batches endpoints of the fake server: enough of the Batch API for batch mode.

A batch stays in progress for `Faults.batch_delay_s`, then every line of its input file is answered by the
same reply logic as a live request (faults included, no latency or rate limit) and written to an output
file (2xx lines) and an error file (the rest), as OpenAI does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fake_openai.server import FakeOpenAI

Answer = Callable[[str, dict[str, Any], str | None], tuple[int, str, dict[str, Any]]]


class BatchStore:
    def __init__(self, fake: FakeOpenAI, answer: Answer) -> None:
        self._fake = fake
        self._answer = answer  # (path, body, authorization) -> (status, fault, response body)
        self.files: dict[str, tuple[bytes, str, str]] = {}  # id -> (content, filename, purpose)
        self.batches: dict[str, dict[str, Any]] = {}
        self._started: dict[str, float] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/files", self.create_file),
            web.get("/v1/files/{id}", self.get_file),
            web.get("/v1/files/{id}/content", self.file_content),
            web.post("/v1/batches", self.create_batch),
            web.get("/v1/batches/{id}", self.get_batch),
            web.post("/v1/batches/{id}/cancel", self.cancel_batch),
        ]

    def _add_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex[:20]}"
        self.files[file_id] = (content, filename, purpose)
        return self._file_object(file_id)

    def _file_object(self, file_id: str) -> dict[str, Any]:
        content, filename, purpose = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}

    async def create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(400, "multipart field 'file' is required")
        return web.json_response(self._add_file(upload.file.read(), upload.filename, str(form.get("purpose"))))

    async def get_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        return web.json_response(self._file_object(file_id))

    async def file_content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        return web.Response(body=self.files[file_id][0], content_type="application/octet-stream")

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("input_file_id") not in self.files:
            return _error(400, f"input_file_id {body.get('input_file_id')!r} not found")
        batch_id = f"batch_{uuid.uuid4().hex[:20]}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"),
            "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(time.time()), "metadata": body.get("metadata"), "errors": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        self._started[batch_id] = time.monotonic()
        self._fake.batch_created(batch_id)
        return web.json_response(self.batches[batch_id])

    async def get_batch(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["id"]
        if batch_id not in self.batches:
            return _error(404, f"No such batch: {batch_id}")
        batch = self.batches[batch_id]
        if batch["status"] in ("validating", "in_progress"):
            if time.monotonic() - self._started[batch_id] < self._fake.faults.batch_delay_s:
                batch["status"] = "in_progress"
            else:
                self._finish(batch, request.headers.get("Authorization"))
        return web.json_response(batch)

    async def cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error(404, "No such batch")
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelled"
        return web.json_response(batch)

    def _finish(self, batch: dict[str, Any], authorization: str | None) -> None:
        outcome = self._fake.faults.batch_status
        if outcome != "completed":
            batch["status"] = outcome
            return
        out, err = [], []
        lines = self.files[batch["input_file_id"]][0].decode().splitlines()
        for line in filter(str.strip, lines):
            item = json.loads(line)
            status, _, body = self._answer("batch:" + item["url"], item["body"], authorization)
            row = {"id": f"batch_req_{uuid.uuid4().hex[:16]}", "custom_id": item["custom_id"],
                   "response": {"status_code": status, "request_id": uuid.uuid4().hex, "body": body},
                   "error": None}
            (out if status < 300 else err).append(json.dumps(row))
        batch["request_counts"] = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}
        if out:
            batch["output_file_id"] = self._add_file("\n".join(out).encode() + b"\n", "out.jsonl",
                                                     "batch_output")["id"]
        if err:
            batch["error_file_id"] = self._add_file("\n".join(err).encode() + b"\n", "err.jsonl",
                                                    "batch_output")["id"]
        batch["status"] = "completed"
        batch["completed_at"] = int(time.time())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                         "param": None, "code": None}}, status=status)
