"""`python -m services.caption`: the same as `mira run caption`."""

from cli.main import main

raise SystemExit(main(["run", "caption"]))
