"""The `mira` commands and their one-line help, apart from the modules that implement them, so that
`mira --help` lists every command without importing any (each module loads what its command needs)."""

from __future__ import annotations

# name -> one-line help; each name is a module cli/<name>.py with add_parser(subparsers) and run(args) -> int.
SUMMARY: dict[str, str] = {
    "caption": "caption video files, folders, URLs or a manifest's clips",
    "up": "run the whole pipeline locally until interrupted",
    "run": "run one service (ingest, split, framegrid, hint, caption, sink, recaption)",
    "grid": "render one 2x4 frame grid to a JPEG file",
    "export": "write caption records to a JSON Lines, CSV or Parquet file",
    "recaption": "recaption the clips a selector picks (new record versions)",
    "status": "topic lag, per-stage counts, failures, tokens and cost so far",
    "deadletters": "list dead letters (stage, reason, source); `replay` resubmits them to their stage",
    "stats": "caption lengths per type against MiraData's, shared captions, quality, histogram",
    "qa": "caption quality: `mira qa recheck` runs the current rules over stored records",
    "review": "a local web page to review grids and captions, and send clips back",
}
