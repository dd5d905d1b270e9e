"""`mira`: caption clips, run the pipeline or one service, export records, recaption, see status."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from cli.commands import SUMMARY

COMMANDS = list(SUMMARY)


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
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handling (while importing, say)
        print("\nmira: interrupted", file=sys.stderr)
        code = 130
    _exit_now(code)
    return code  # not reached


def _exit_now(code: int) -> None:
    """End once the command is done, without the interpreter's teardown: every command has closed what it
    opened and waited for what it started by now, and unloading the modules a pipeline command imported
    took a tenth of a second of every run."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away (`mira export | head`)
    os._exit(code)


def unknown_command(name: str) -> str:
    """The line for a command that does not exist: the nearest one when the name looks like a typo."""
    import difflib

    near = difflib.get_close_matches(name, COMMANDS, n=2, cutoff=0.6)
    if near:
        return f"mira: unknown command {name!r}; did you mean " + " or ".join(f"`mira {n}`" for n in near) + "?"
    return f"mira: unknown command {name!r}; the commands are {', '.join(COMMANDS)} (`mira --help` says more)"


def _main(argv: list[str]) -> int:
    if argv and not argv[0].startswith("-") and argv[0] not in SUMMARY:
        print(unknown_command(argv[0]), file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="mira", description=__doc__,
                                     epilog="`mira COMMAND --help` describes a command's options.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Import only the command asked for: `mira --help` lists the others from their one-line summaries, and
    # `mira run sink` need not load PyAV, pyarrow or the OpenAI SDK.
    wanted = argv[0] if argv and argv[0] in SUMMARY else None
    module = None
    for name, summary in SUMMARY.items():
        if name != wanted:
            sub.add_parser(name, help=summary)
            continue
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{name}":
                raise
            continue
        module.add_parser(sub)
    args = parser.parse_args(argv)
    from cli.checks import check_or_exit

    check_or_exit(args.command, getattr(args, "service", None))  # exit 2 before anything starts
    setup_logging(os.environ.get("MIRA_LOG_LEVEL", "INFO"))
    assert module is not None
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
