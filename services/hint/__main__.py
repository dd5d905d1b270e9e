"""`python -m services.hint`: the same as `mira run hint`."""

from cli.main import main

raise SystemExit(main(["run", "hint"]))
