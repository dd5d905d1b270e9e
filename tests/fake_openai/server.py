"""A local OpenAI-compatible HTTP server for tests and benches, with faults a test can turn on.

It is the product's local model (cli/localmodel) with faults, a request log and the Batch API added:
`FakeOpenAI().start()` runs it on a background thread with its own event loop on a free loopback port and
returns the base URL for the `openai` SDK. Every chat completion is recorded (`.requests`) so tests can
assert on the prompt, the hint and the decoded image, and every chat completion is logged as a `Call`
(`.calls`: which question, whether its answer reached the caller). Faults change per test (`configure(...)`) or at
run time over HTTP (`POST /admin/faults`), for a server started in its own process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

from cli.localmodel.replies import (
    Recorded,
    completion,
    defect_of,
    error_body,
    is_hint_request,
    is_quality_repair,
    prompt_tokens,
    repair_fixes,
)
from cli.localmodel.server import LocalModel, bad_image
from tests.fake_openai.batches import BatchStore
from tests.fake_openai.calls import Call, Callers, deliver, question_of
from tests.fake_openai.faults import Dice, Faults, Limiter, Script, retry_after_headers


class FakeOpenAI(LocalModel):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, **faults: Any) -> None:
        super().__init__(host, port)
        self.faults = Faults()
        self.requests: list[Recorded] = []
        self.calls: list[Call] = []
        self.batches_created: list[str] = []
        self.limiter = Limiter()
        self._script = Script()
        self._dice = Dice()
        self._callers = Callers()
        self._lock = threading.Lock()
        self.store = BatchStore(self, self._answer)
        self.out = 0  # chat completions being answered now (latency included)
        self.peak_out = 0  # the most at once since the start or the last reset
        self.configure(**faults)

    # ---- Python API -------------------------------------------------------------------------------
    def configure(self, **faults: Any) -> FakeOpenAI:
        """Change faults (see Faults); `script=[...]` queues one-shot faults for the next requests."""
        with self._lock:
            self.faults = Faults.from_mapping(self.faults, faults)
            if "script" in faults:
                self._script.load(self.faults.script)
        return self

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults()
            self._script.load(())
            self.limiter = Limiter()
            self.requests.clear()
            self.calls.clear()
            self.batches_created.clear()
            self.peak_out = self.out

    @property
    def chat_requests(self) -> list[Recorded]:
        """Requests answered 200 (the ones a client pays for)."""
        return [r for r in self.requests if r.status == 200]

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.post("/admin/faults", self.admin_faults),
            web.get("/admin/requests", self.admin_requests),
            web.get("/admin/calls", self.admin_calls),
            web.post("/admin/reset", self.admin_reset),
            web.get("/admin/stats", self.admin_stats),
            *self.store.routes(),
        ]

    # ---- serving ----------------------------------------------------------------------------------
    def _record(self, path: str, body: dict[str, Any], auth: str | None, fault: str, status: int) -> None:
        with self._lock:
            self.requests.append(Recorded(path, body, auth, fault, status, time.time()))

    def batch_created(self, batch_id: str) -> None:
        with self._lock:
            self.batches_created.append(batch_id)

    def _answer(self, path: str, body: dict[str, Any], auth: str | None) -> tuple[int, str, dict[str, Any]]:
        """Checks and reply shared by live requests and batch lines (no latency, no rate limit here)."""
        faults = self.faults
        status, fault = 200, "ok"
        if faults.api_key is not None and auth != f"Bearer {faults.api_key}":
            status, fault = 401, "auth"
            reply = error_body(401, f"Incorrect API key provided: {(auth or '').removeprefix('Bearer ')}.")
        elif not faults.json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            status, fault = 400, "no_json_schema"
            reply = error_body(400, "response_format of type json_schema is not supported by this model")
        else:
            fault = self._script.next(faults.mode)
            problem = bad_image(body)
            if problem:
                status, fault = 400, "bad_image"
                reply = error_body(400, problem)
            else:
                if fault.startswith("status:"):
                    status = int(fault[7:])
                    reply = error_body(status, f"fake server error {status}")
                else:
                    reply = completion(body, fault, faults.hint_reply, self._dice.variant(faults, body),
                                       self._defect(body))
        self._record(path, body, auth, fault, status)
        return status, fault, reply

    def _defect(self, body: dict[str, Any]) -> str | None:
        """The defect this caption answer carries: the grid's, in a first answer; in a quality repair only
        for the grids whose repair does not fix it (Faults.repairs_fix)."""
        faults = self.faults
        if is_hint_request(body) or faults.defect_share <= 0:
            return None
        defect = defect_of(body, faults.defect_share, faults.defects)
        if defect is not None and is_quality_repair(body) and repair_fixes(body, faults.repairs_fix):
            return None
        return defect

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(error_body(400, "body is not JSON"), status=400)
        except ConnectionError:  # the client died while sending its request: nothing was asked
            return web.Response(status=499)
        call = Call(question_of(body), "hint" if is_hint_request(body) else "caption")
        with self._lock:
            self.calls.append(call)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if self.faults.track_callers and peer:
            call.caller = await asyncio.to_thread(self._callers.pid_of, peer[1], self.port)
        self.out += 1  # (on the server's one event loop)
        self.peak_out = max(self.peak_out, self.out)
        try:
            response = await self._respond(request, body)
        finally:
            self.out -= 1
        call.status = response.status
        return await deliver(request, response, call)

    async def _respond(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        faults = self.faults
        est = prompt_tokens(body)[0] + int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
        retry_after, headers = self.limiter.admit(faults, est)
        throttled = retry_after_headers(1.0 if faults.retry_after_s is None else faults.retry_after_s)
        if retry_after is not None:
            self._record(request.path, body, request.headers.get("Authorization"), "rate_limited", 429)
            return web.json_response(error_body(429, "Rate limit reached for requests"), status=429,
                                     headers=headers)
        if self._dice.throttled(faults):
            self._record(request.path, body, request.headers.get("Authorization"), "throttled", 429)
            return web.json_response(error_body(429, "Rate limit reached for requests"), status=429,
                                     headers=headers | throttled)
        status, fault, reply = self._answer(request.path, body, request.headers.get("Authorization"))
        await asyncio.sleep(faults.latency_s)
        if fault == "hang":
            await asyncio.sleep(faults.hang_s)
        if fault == "disconnect" and request.transport is not None:
            request.transport.close()
            return web.Response(status=500)
        if fault == "garbage":
            return web.Response(text="<html>upstream error", content_type="application/json", headers=headers)
        if status == 429:
            headers |= throttled
        return web.json_response(reply, status=status, headers={**headers, "x-request-id": "req_fake"})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})

    # ---- admin (for a server in another process) --------------------------------------------------
    async def admin_faults(self, request: web.Request) -> web.Response:
        try:
            self.configure(**await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"path": r.path, "status": r.status, "fault": r.fault, "model": r.model, "text": r.text,
             "response_format": r.response_format, "at": r.at, "repair": is_quality_repair(r.body),
             "images": [{"format": i.format, "width": i.width, "height": i.height, "detail": i.detail}
                        for i in r.images]}
            for r in list(self.requests)
        ])

    async def admin_calls(self, request: web.Request) -> web.Response:
        with self._lock:
            calls = [c.as_json() for c in self.calls]
        return web.json_response(calls)

    async def admin_stats(self, request: web.Request) -> web.Response:
        """Requests being answered now and the most at once, answered and rate-limited counts, and the seconds
        from the first answered request's arrival to the last's."""
        with self._lock:
            statuses = [r.status for r in self.requests]
            times = [r.at for r in self.requests if r.status == 200]
        return web.json_response({"out": self.out, "peak_out": self.peak_out, "answered": statuses.count(200),
                                  "rate_limited": statuses.count(429),
                                  "sending_s": max(times) - min(times) if times else 0.0})

    async def admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

