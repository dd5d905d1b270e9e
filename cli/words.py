"""Counts in the words a person would use: "1 clip", "2 clips"."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun`, with the plural form (`many`, else noun + "s") unless n is 1."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"
