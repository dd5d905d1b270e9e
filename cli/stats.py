"""`mira stats [-o lengths.png]`: words per caption type beside MiraData's figures, identical captions that
different clips share and the suspect share by quality rule with how repairs ended, as text; with -o, also the
histogram of caption lengths, drawn as a PNG."""

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
        "stats", help=SUMMARY["stats"], description=__doc__
    )
    p.add_argument(
        "-o", "--output", type=Path, metavar="PNG", help="also draw the histogram of caption lengths to this PNG"
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
    else:  # the histogram is a picture: say where to get it rather than leave it unmentioned
        print("\nthe histogram of caption lengths is a picture: `mira stats -o lengths.png` draws it "
              "(so does the Stats page of `mira review`)")
    return 0
