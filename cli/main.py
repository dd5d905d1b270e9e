"""`mira`: caption clips, run the pipeline or one service, export records, recaption, see status."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Each command is a module exposing add_parser(subparsers) and run(args) -> int.
COMMANDS = ["caption", "up", "run", "grid", "export", "recaption", "status", "stats", "review"]


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    for noisy in ("aiokafka", "httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from shared import redact  # light: pydantic only

    redact.install()  # configured secrets and URL credentials never reach a log line or a traceback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mira", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    # Import only the command asked for: `mira run sink` need not load PyAV, pyarrow or the OpenAI SDK.
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    modules = {}
    for name in wanted:
        try:
            modules[name] = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{name}":
                raise
            continue
        modules[name].add_parser(sub)
    args = parser.parse_args(argv)
    from cli.checks import check_or_exit

    check_or_exit(args.command, getattr(args, "service", None))  # exit 2 before anything starts
    setup_logging(os.environ.get("MIRA_LOG_LEVEL", "INFO"))
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
