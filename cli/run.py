"""`mira run SERVICE`: one service in this process (the container entry point)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from services import STAGES, stage_class
from shared import broker
from shared.runtime.runner import Runner
from shared.settings import Settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run one service (ingest, framegrid, hint, caption, sink, recaption)")
    p.add_argument("service", choices=list(STAGES))


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args.service))


async def _run(service: str) -> int:
    settings = Settings()
    stage = stage_class(service)()
    embedded = None
    if not settings.kafka_bootstrap:
        running = broker.running_pipeline(settings.home)
        if running:
            address = running["bootstrap"]
        else:
            log.warning("MIRA_KAFKA_BOOTSTRAP is unset and no pipeline runs on %s: starting an embedded broker "
                        "for this service only", settings.home)
            embedded = broker.EmbeddedBroker(settings.home)
            address = embedded.start()
        settings = settings.model_copy(update={"kafka_bootstrap": address})
    try:
        return await Runner(stage, settings).run()
    finally:
        if embedded:
            embedded.stop()
