"""`mira qa recheck [--latest]`: run the current quality rules over stored records, without calling any
model, and write each record's quality, reasons and text hash (records from before the checks have none)."""

from __future__ import annotations

import argparse

from cli.commands import SUMMARY
from cli.export import open_store
from shared.qa.recheck import recheck
from shared.qa.settings import QualitySettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qa", help=SUMMARY["qa"], description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION", help="recheck")
    again = actions.add_parser("recheck", help="check stored records again with the current rules")
    again.add_argument("--latest", action="store_true", help="only each clip's newest version (default: all)")


def run(args: argparse.Namespace) -> int:
    with open_store() as store:
        done = recheck(store, QualitySettings(), latest_only=args.latest)
    suspect = done.by_quality["suspect"]
    share = f" ({suspect / done.checked:.1%})" if done.checked else ""
    print(f"rechecked {done.checked} records: {done.by_quality['ok']} ok, {suspect} suspect{share}; "
          f"{done.changed} changed")
    for rule, n in done.by_rule.most_common():
        print(f"  {rule}: {n}")
    return 0
