"""`python -m services.ingest`: the same as `mira run ingest`."""

from cli.main import main

raise SystemExit(main(["run", "ingest"]))
