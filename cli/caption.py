"""`mira caption PATH_OR_URL... [--manifest FILE] [--wait]`: submit clips and, with --wait, follow them to
their records and print a summary. With no pipeline running it starts an embedded one for its duration."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli import interrupt
from cli.commands import SUMMARY
from cli.reach import dns_problem, local_problem
from cli.session import follow, local_pipeline_captions, pipeline_session
from cli.summary import print_summary
from cli.tracker import Tracker
from cli.words import plural
from services.ingest.manifest import RowError, read_manifest
from services.ingest.sources import expand_paths, new_request_id, to_job
from shared import kafka
from shared.messages import ClipJob, ClipSubmission
from shared.runtime.errors import BadInput
from shared.settings import Settings
from shared.topics import Topic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help=SUMMARY["caption"],
                       description="Submit clips to the pipeline running on MIRA_HOME (or one started for this "
                                   "command) and, with --wait, follow them to their records.")
    p.add_argument("sources", nargs="*", metavar="PATH_OR_URL",
                   help="video files, folders (scanned for video files) or http(s)/s3 URLs")
    p.add_argument("--manifest", type=Path, action="append", default=[],
                   help="MiraData or Panda-70M meta CSV/JSONL, or a plain CSV/JSONL with a source column")
    p.add_argument("--wait", action="store_true", help="follow the clips to their records, then summarise")
    p.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--split", dest="split", action="store_true", default=None,
                       help="cut every whole video into clips at its shot boundaries (MIRA_SPLIT=always)")
    split.add_argument("--no-split", dest="split", action="store_false",
                       help="caption every whole video as one clip (MIRA_SPLIT=off)")
    p.add_argument("--batch", action="store_true",
                   help="caption through the Batch API (cheaper, slower): applies to the embedded pipeline this "
                        "command starts; a running pipeline keeps its own MIRA_CAPTION_BATCH")


def run(args: argparse.Namespace) -> int:
    if not args.sources and not args.manifest:
        print("mira caption: give at least one PATH_OR_URL or --manifest FILE", file=sys.stderr)
        return 2
    return interrupt.run(_caption(args))


def collect(sources: list[str], manifests: list[Path], request_id: str,
            skipped: list[str] | None = None) -> tuple[list[ClipSubmission], list[str]]:
    subs: list[ClipSubmission] = list(expand_paths(sources, request_id, skipped))
    problems: list[str] = []
    for manifest in manifests:
        try:
            for item in read_manifest(manifest, request_id):
                (problems.append(item.reason) if isinstance(item, RowError) else subs.append(item))
        except FileNotFoundError as exc:  # its message names the file
            problems.append(str(exc))
        except (UnicodeDecodeError, ValueError) as exc:  # unreadable as a whole
            problems.append(f"{manifest}: {exc}")
    return subs, problems


def plan(subs: list[ClipSubmission], problems: list[str],
         local_files: bool = True) -> dict[str, tuple[ClipSubmission, ClipJob]]:
    """Validate and id every clip up front (the same function ingest runs), so we know what to wait for and
    nothing is started for a clip that cannot be read. `local_files`: local paths are this machine's (not
    so for a pipeline elsewhere, named by MIRA_KAFKA_BOOTSTRAP, whose own files they may name)."""
    jobs: dict[str, tuple[ClipSubmission, ClipJob]] = {}
    for sub in subs:
        try:
            job = to_job(sub)
        except BadInput as exc:
            problems.append(f"{sub.source}: {exc.reason}")
            continue
        uri = job.clip.source_uri
        unreadable = dns_problem(uri) or (local_problem(uri) if local_files else None)
        if unreadable:
            problems.append(f"{sub.source}: {unreadable}")
            continue
        jobs.setdefault(job.job_id, (sub, job))
    return jobs


async def _caption(args: argparse.Namespace) -> int:
    request_id = new_request_id()
    skipped: list[str] = []
    subs, problems = collect(args.sources, args.manifest, request_id, skipped)
    if args.split is not None:  # for this run only: ingest routes by it instead of its MIRA_SPLIT
        subs = [sub.model_copy(update={"split": args.split}) for sub in subs]
    jobs = plan(subs, problems, local_files=not Settings().kafka_bootstrap)
    report_skipped(skipped)
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    if not jobs:
        print("nothing to caption", file=sys.stderr)
        return 1
    if args.batch:
        os.environ["MIRA_CAPTION_BATCH"] = "true"  # inherited by the services an embedded pipeline starts
    captioning = local_pipeline_captions(Settings())
    async with pipeline_session(Settings()) as (settings, pipeline):
        if args.batch and pipeline is None:
            print("--batch: the running pipeline captions as its MIRA_CAPTION_BATCH says", file=sys.stderr)
        wait = args.wait or pipeline is not None  # an embedded broker must not vanish before the work is done
        tracker = Tracker(settings, jobs, Topic.RECORDS if captioning else Topic.HINTED)
        tracker.requests, tracker.videos = {request_id}, {job.clip.video_id for _, job in jobs.values()}
        try:
            if wait:
                await tracker.start(fresh=pipeline is not None and pipeline.broker is not None)
            await kafka.publish_all(settings, [sub for sub, _ in jobs.values()])
            print(f"submitted {plural(len(jobs), 'clip')}", file=sys.stderr)
            if not wait:
                for _, job in jobs.values():
                    print(job.clip.clip_id)
                return 0
            stopped = await follow(tracker, pipeline, args.timeout)
        finally:
            await tracker.stop()
        return print_summary(tracker, [job for _, job in jobs.values()], problems, settings, request_id, stopped)


def report_skipped(skipped: list[str], shown: int = 20) -> None:
    """Files a folder scan passed over, by name and reason (a raw .h264 stream is not taken for a video)."""
    for line in skipped[:shown]:
        print(f"skipped: {line}", file=sys.stderr)
    if len(skipped) > shown:
        print(f"skipped: {plural(len(skipped) - shown, 'more file', 'more files')} that are not video file names",
              file=sys.stderr)
