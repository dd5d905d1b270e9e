"""`python -m services.framegrid`: the same as `mira run framegrid`."""

from cli.main import main

raise SystemExit(main(["run", "framegrid"]))
