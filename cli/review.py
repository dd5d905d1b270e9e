"""`mira review [--host 127.0.0.1] [--port 8765]`: a local web page over the record and blob stores
(gallery, filters, version diffs, failures, stats, send back). Beyond loopback it needs MIRA_API_TOKENS."""

from __future__ import annotations

import argparse
import asyncio
import sys

from cli.commands import SUMMARY


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help=SUMMARY["review"])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (beyond loopback: MIRA_API_TOKENS)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")


def run(args: argparse.Namespace) -> int:
    # Imported here: `mira` loads only the command it runs, and the web app is the heaviest of them.
    from review.app import make_app, serve
    from review.settings import ReviewConfigError, ReviewSettings
    from services.ingest.settings import IngestSettings
    from shared.settings import Settings
    from shared.store import StoreError

    try:
        app = make_app(Settings(), ReviewSettings(), args.host, IngestSettings().tokens())
    except (ReviewConfigError, ValueError, StoreError) as exc:
        print(f"mira review: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(app, args.host, args.port))
    except OSError as exc:
        print(f"mira review: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
