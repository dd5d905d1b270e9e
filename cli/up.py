"""`mira up`: the whole pipeline on this machine until interrupted (Ctrl-C or SIGTERM stop it cleanly; if it
is killed outright, its services and broker end with it). Exit status 1 when a service had to be given up."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from cli.commands import SUMMARY
from cli.pipeline import LocalPipeline
from cli.services import services_to_run
from shared import broker
from shared.settings import Settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("up", help=SUMMARY["up"],
                   description="Run the embedded broker (unless MIRA_KAFKA_BOOTSTRAP is set) and every service "
                               "as its own process on this MIRA_HOME, logging to this terminal, until Ctrl-C. "
                               "`mira caption`, `mira recaption` and `mira status` find it there.")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_up())


async def _up() -> int:
    settings = Settings()
    running = broker.running_pipeline(settings.home)
    if running:
        log.error("a pipeline already runs on %s (pid %s); stop it first or use another MIRA_HOME",
                  settings.home, running["pid"])
        return 1
    services, note = services_to_run()
    if note:
        log.warning(note)
    pipeline = LocalPipeline(settings, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await pipeline.start()
        log.info("pipeline up on %s (%s); Ctrl-C stops it", pipeline.bootstrap, ", ".join(services))
        while not stop.is_set():
            pipeline.supervise()
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.25)
            except TimeoutError:
                pass
    finally:
        await pipeline.stop()
    return 1 if pipeline.fatal else 0
