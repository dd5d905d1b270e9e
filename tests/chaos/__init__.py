"""The chaos harness: the whole pipeline as several replicas per stage, killed, stopped and scaled at a fixed
random seed while it works, then checked for lost clips, extra record versions and model calls paid twice.

`make chaos` (or `python -m tests.chaos --seeds 1 2 3`) runs it; tests/e2e/test_chaos_small.py runs a small
version inside `make test`. See docs/reliability.md for what it proves.
"""
