"""What `mira caption` and `mira recaption` share: connect to the running pipeline (or start an embedded
one for the command's duration), publish, and follow the jobs to their records."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cli.connect import given_up
from cli.pipeline import LocalPipeline
from cli.services import model_configured, services_to_run
from cli.tracker import Tracker
from cli.words import plural
from shared import broker
from shared.settings import Settings


def local_pipeline_captions(settings: Settings) -> bool:
    """Whether the pipeline this command uses runs the caption stage: the local one says so in
    pipeline.json (`mira up` without a model key leaves it out); elsewhere, this command's own settings."""
    running = None if settings.kafka_bootstrap else broker.running_pipeline(settings.home)
    if running and "services" in running:
        return "caption" in running["services"]
    return model_configured()


@asynccontextmanager
async def pipeline_session(settings: Settings, recaption: bool = False
                           ) -> AsyncIterator[tuple[Settings, LocalPipeline | None]]:
    """Settings pointed at a live broker, and the embedded pipeline started for this command, if any (with
    the recaption service only when the command publishes a recaption request)."""
    running = None if settings.kafka_bootstrap else broker.running_pipeline(settings.home)
    if running or settings.kafka_bootstrap:
        if running:
            settings = broker.joined(settings, running)
        yield settings, None
        return
    services = [s for s in services_to_run()[0] if recaption or s != "recaption"]
    pipeline = LocalPipeline(settings, services, log_dir=settings.home / "logs")
    print(f"no pipeline running: starting an embedded one ({', '.join(services)}); logs in "
          f"{settings.home / 'logs'}", file=sys.stderr)
    try:
        yield await pipeline.start(), pipeline
    finally:
        await pipeline.stop()


async def follow(tracker: Tracker, pipeline: LocalPipeline | None, timeout_s: float | None) -> list[str]:
    """Show progress until every job is done, a service fails for good, or the timeout passes; the reasons
    it stopped early (for the summary)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last, moved = "", tracker.line()
    while not tracker.done:
        await tracker.poll()
        line = tracker.line()
        if pipeline:
            pipeline.supervise()
            if pipeline.fatal:
                for name, why in pipeline.fatal.items():
                    print(f"stopping: the {name} service {why}", file=sys.stderr)
                return [f"the {name} service {why}" for name, why in pipeline.fatal.items()]
            if line != moved:  # progress: earlier trouble is over
                pipeline.clear_notes()
            moved = line
            note = pipeline.note()
            line = f"{line} | {note}" if note else line
        else:
            lost = given_up(tracker.settings.home, tracker.settings.kafka_bootstrap or "")
            if lost:
                reasons = [f"the {name} service of the pipeline running on this MIRA_HOME cannot work (see the "
                           "output of its `mira up`)" for name in lost]
                print("stopping: " + "; ".join(reasons), file=sys.stderr)
                return reasons
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if deadline and time.monotonic() > deadline:
            note = f" (last seen: {pipeline.note()})" if pipeline and pipeline.note() else ""
            print(f"timed out with {plural(len(tracker.pending), 'clip')} still in the pipeline{note}", file=sys.stderr)
            return [f"timed out after {timeout_s:g} s with {plural(len(tracker.pending), 'clip')} unfinished{note}"]
    return []
