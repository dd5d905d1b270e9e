"""`python -m services.recaption`: the same as `mira run recaption`."""

from cli.main import main

raise SystemExit(main(["run", "recaption"]))
