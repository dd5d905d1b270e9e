"""`mira run SERVICE`: one service in this process (the container entry point).

Started by a local pipeline (MIRA_OWNER_PID set), the service ends when that pipeline's process is gone,
however it went (shared.lifeline), so no service is left running under init; and once it has stopped
cleanly it exits at once, without the interpreter's teardown (up to a second of freeing modules when a
whole pipeline stops together on two cores: the pipeline's command waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from cli.commands import SUMMARY
from services import STAGES, stage_class
from shared import broker, lifeline
from shared.runtime.runner import Runner
from shared.settings import Settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=SUMMARY["run"])
    p.add_argument("service", choices=list(STAGES), help="the stage to run in this process")


def run(args: argparse.Namespace) -> int:
    owner = os.environ.get("MIRA_OWNER_PID", "")
    if not owner.isdigit():
        return asyncio.run(_run(args.service))
    lifeline.exit_with_owner(int(owner))
    code = asyncio.run(_run(args.service))  # everything is closed, committed and logged by now
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _run(service: str) -> int:
    settings = Settings()
    stage = stage_class(service)()
    embedded = None
    if not settings.kafka_bootstrap:
        running = broker.running_pipeline(settings.home)
        if running:
            settings = broker.joined(settings, running)
        else:
            log.warning("MIRA_KAFKA_BOOTSTRAP is unset and no pipeline runs on %s: starting an embedded broker "
                        "for this service only", settings.home)
            embedded = broker.EmbeddedBroker(settings.home)
            settings = broker.joined(settings, {"bootstrap": embedded.start(), "kafka": embedded.CLIENT_SETTINGS})
    try:
        return await Runner(stage, settings).run()
    finally:
        if embedded:
            embedded.stop()
