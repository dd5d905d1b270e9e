"""`mira recaption (--all | --clip ID... | --prompt-version-not V | --status S...) [--model M]`: publish a
recaption request; `--dry-run` shows what it would select and cost, `--wait` follows it to the records."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

import prompt
from cli import interrupt
from cli.commands import SUMMARY
from cli.connect import running_settings
from cli.session import follow, pipeline_session
from cli.summary import print_summary, usd
from cli.tracker import Tracker
from cli.words import plural
from services.caption.request import estimate_usage
from services.caption.settings import CaptionSettings
from services.ingest.sources import new_request_id
from services.recaption.selection import job_for, selected
from shared import kafka
from shared.messages import RecaptionRequest
from shared.qa.rules import RULES
from shared.runtime.errors import BadInput
from shared.settings import Settings
from shared.store.records import RecordStore
from shared.topics import Topic
from shared.vision_models import cost_usd

TYPICAL_GRID = (2048, 576)  # for records that carry no token counts (failed before the model answered)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recaption", help=SUMMARY["recaption"])
    p.add_argument("--all", action="store_true", help="every clip")
    p.add_argument("--clip", dest="clip_ids", nargs="+", default=[], metavar="ID", help="these clips")
    p.add_argument("--prompt-version-not", metavar="V",
                   help="clips captioned with another prompt version ('current': the prompt in prompt.py)")
    p.add_argument("--status", dest="status_in", nargs="+", default=[],
                   choices=["success", "truncated", "refused", "failed"],
                   help="clips whose newest version has one of these statuses")
    p.add_argument("--model-is", metavar="M", help="clips captioned by model M")
    p.add_argument("--created-before", type=datetime.fromisoformat, metavar="ISO_TIME",
                   help="clips whose newest version is older than this (e.g. 2026-11-30T12:00)")
    p.add_argument("--quality", choices=("ok", "suspect"), help="clips whose newest version has this quality")
    p.add_argument("--rule", metavar="NAME", help="clips whose newest version this quality rule flagged")
    p.add_argument("--verdict", choices=("accepted", "rejected"), help="clips whose newest version a reviewer "
                   "marked so")
    p.add_argument("--model", help="caption with this model instead of MIRA_CAPTION_MODEL")
    p.add_argument("--rerender-grids", action="store_true", help="decode again instead of reusing stored grids")
    p.add_argument("--request-id", help="publishing the same request id again creates no extra versions")
    p.add_argument("--dry-run", action="store_true", help="print how many clips and the estimated cost only")
    p.add_argument("--wait", action="store_true", help="follow the new versions to the records")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="with --wait: give up after S seconds")


SELECTORS = ("--all, --clip ID..., --prompt-version-not V, --status S..., --model-is M, --created-before T, "
             "--quality Q, --rule NAME or --verdict V")


def run(args: argparse.Namespace) -> int:
    if not (args.all or args.clip_ids or args.prompt_version_not or args.status_in or args.model_is
            or args.created_before or args.quality or args.rule or args.verdict):
        print(f"mira recaption: say which clips: {SELECTORS} (--all for every clip)", file=sys.stderr)
        return 2
    if args.rule is not None and args.rule not in RULES:
        print(f"mira recaption: --rule must be one of {', '.join(RULES)}", file=sys.stderr)
        return 2
    version_not = prompt.PROMPT_VERSION if args.prompt_version_not == "current" else args.prompt_version_not
    request = RecaptionRequest(
        request_id=args.request_id or new_request_id(), all=args.all, clip_ids=args.clip_ids,
        prompt_version_not=version_not, model_is=args.model_is, status_in=args.status_in,
        created_before=args.created_before, quality=args.quality, rule=args.rule, verdict=args.verdict,
        model=args.model, rerender_grids=args.rerender_grids,
    )
    settings = Settings()
    assert settings.database_url is not None
    try:
        with RecordStore.open(settings.database_url) as store:
            records = list(selected(store, request)) if (args.dry_run or args.wait) else []
    except BadInput as exc:
        print(f"mira recaption: {exc.reason}", file=sys.stderr)
        return 2
    if args.dry_run:
        caption_settings = CaptionSettings()
        model = args.model or caption_settings.caption_model
        typical = estimate_usage(model, *TYPICAL_GRID, caption_settings)
        cost = sum(cost_usd(model, r.input_tokens or typical.input_tokens, r.output_tokens or typical.output_tokens)
                   for r in records)
        print(f"would recaption {plural(len(records), 'clip')} with {model}; estimated cost ${usd(cost)}")
        return 0
    return interrupt.run(_publish(request, records, args))


async def _publish(request: RecaptionRequest, records: list, args: argparse.Namespace) -> int:  # type: ignore[type-arg]
    if not args.wait and running_settings() is None:
        print("no pipeline is running: use --wait (an embedded one runs for the command) or start `mira up`",
              file=sys.stderr)
        return 2
    async with pipeline_session(Settings(), recaption=True) as (settings, pipeline):
        jobs = [job_for(r, request) for r in records]
        tracker = Tracker(settings, [j.job_id for j in jobs], Topic.RECORDS)
        try:
            if args.wait:
                await tracker.start(fresh=pipeline is not None and pipeline.broker is not None)
            await kafka.publish_all(settings, [request])
            print(f"published recaption request {request.request_id}", file=sys.stderr)
            if not args.wait:
                return 0
            stopped = await follow(tracker, pipeline, args.timeout)
        finally:
            await tracker.stop()
        return print_summary(tracker, jobs, [], settings, request.request_id, stopped)
