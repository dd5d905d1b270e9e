"""`mira stats [-o hist.png]`: words per caption type beside MiraData's figures, identical captions that
different clips share, the suspect share by quality rule and how repairs ended, and optionally a PNG
histogram of caption lengths."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.commands import SUMMARY
from cli.export import open_store
from shared import stats
from shared.qa.report import quality_lines
from shared.qa.rules import RULES
from shared.store import quality


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats", help=SUMMARY["stats"]
    )
    p.add_argument(
        "-o", "--output", type=Path, metavar="PNG", help="also write a histogram of caption lengths"
    )


def run(args: argparse.Namespace) -> int:
    with open_store() as store:
        figures = stats.compute(store)
        checked = quality.totals(store.engine, list(RULES))
    print(stats.report(figures))
    print()
    print(quality_lines({"by_quality": checked.by_quality, "by_rule": checked.by_rule, "repairs": checked.repairs}))
    if args.output:
        stats.write_histogram(figures, args.output)
        print(f"\nhistogram written to {args.output}")
    return 0
