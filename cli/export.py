"""`mira export --format jsonl|csv|parquet [--version latest|all|N] [filters] -o FILE`: write caption
records to a file, streaming in the order they were stored, so a dataset of any size exports in constant memory
and at the same rate per row. `--cuts` writes the
split stage's cut lists instead: one row per source with its shot boundaries (JSON Lines or CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from cli.commands import SUMMARY
from cli.words import plural
from shared.messages import CaptionStatus
from shared.settings import Settings
from shared.store import RecordStore, StoreError, Version, cuts
from shared.store.export import FORMATS, export, export_cuts

STATUSES = get_args(CaptionStatus)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=SUMMARY["export"])
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="jsonl: one record per line; csv: MiraData meta columns; parquet: typed columns")
    p.add_argument(
        "--version",
        type=version_arg,
        default="latest",
        metavar="latest|all|N",
        help="each clip's newest version (default), every version, or version N",
    )
    p.add_argument("--prompt-version", help="only records made with this prompt version")
    p.add_argument("--model", help="only records made by this model")
    p.add_argument("--status", choices=STATUSES, help="only records with this status")
    p.add_argument("--quality", choices=("ok", "suspect"),
                   help="only records the quality rules found ok, or suspect (unchecked records are neither)")
    p.add_argument("--cuts", action="store_true",
                   help="the cut list of every split source (its shot boundaries) instead of records")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="the file to write; missing folders are created")


def version_arg(text: str) -> Version:
    if text in ("latest", "all"):
        return text  # type: ignore[return-value]
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected latest, all or a version number >= 1, got {text!r}")


def open_store() -> RecordStore:
    """The store MIRA_DATABASE_URL names, or a one-line error (exit status 1) instead of a traceback."""
    try:
        return RecordStore.open(str(Settings().database_url))
    except (ValueError, StoreError) as exc:
        raise SystemExit(f"mira: {exc}") from None


def run(args: argparse.Namespace) -> int:
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.cuts and args.format == "parquet":
        raise SystemExit("mira export --cuts: use --format jsonl or csv")
    with open_store() as store:
        if args.cuts:
            count = export_cuts(cuts.iter_all(store.engine), args.format, args.output)
            print(f"exported {count} cut lists to {args.output}")
            return 0
        records = store.iter_rows(args.version, prompt_version=args.prompt_version, model=args.model,
                                  status=args.status, quality_is=args.quality)
        count = export(records, args.format, args.output)
    print(f"exported {plural(count, 'record')} to {args.output}")
    return 0
