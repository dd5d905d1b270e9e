"""`python -m services.sink`: the same as `mira run sink`."""

from cli.main import main

raise SystemExit(main(["run", "sink"]))
