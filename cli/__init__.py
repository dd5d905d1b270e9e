"""The `mira` command line."""
