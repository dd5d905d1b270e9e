"""Ingest: a clip submission in, a clip job with deterministic ids out.

Submissions arrive on the submissions topic (from `mira caption`), from POST /v1/clips, or from a
watched folder; the latter two publish onto the same topic so every clip takes one path.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.ingest.settings import IngestSettings
from services.ingest.sources import new_request_id, to_job
from services.ingest.watch import watch_folder
from shared.messages import ClipJob, ClipSubmission
from shared.runtime.errors import BadInput
from shared.runtime.stage import Stage, StageContext
from shared.topics import Topic


class ClipRequest(ClipSubmission):
    request_id: str = ""  # the API assigns one when the caller does not


_requests = TypeAdapter(list[ClipRequest])


class IngestStage(Stage[ClipSubmission]):
    name = "ingest"
    consumes = Topic.SUBMISSIONS
    message = ClipSubmission

    async def start(self, ctx: StageContext) -> None:
        self.ctx = ctx
        settings = IngestSettings()
        ctx.http.router.add_post("/v1/clips", self._post_clips)
        if settings.ingest_watch_dir:
            ctx.spawn(watch_folder(settings.ingest_watch_dir, settings.ingest_watch_interval_s, ctx.publish))

    async def handle(self, message: ClipSubmission) -> ClipJob:
        return to_job(message)

    async def _post_clips(self, request: web.Request) -> web.Response:
        """POST /v1/clips with one clip object or a list: {"source": ..., "start_s"?, "end_s"?, "hint"?}."""
        body = await request.json()
        try:
            clips = _requests.validate_python(body if isinstance(body, list) else [body])
        except ValidationError as exc:
            return web.json_response({"error": exc.errors(include_url=False)}, status=422)
        request_id = new_request_id()
        subs = [ClipSubmission(**c.model_dump(exclude={"request_id"}), request_id=c.request_id or request_id)
                for c in clips]
        try:
            jobs = [to_job(sub) for sub in subs]  # validated now: the caller learns ids and bad ranges at once
        except BadInput as exc:
            return web.json_response({"error": exc.reason}, status=422)
        for sub in subs:
            await self.ctx.publish(sub)
        return web.json_response(
            {"request_id": request_id, "clips": [{"clip_id": j.clip.clip_id, "job_id": j.job_id} for j in jobs]},
            status=202,
        )
