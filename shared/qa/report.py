"""The quality lines `mira status` and `mira stats` print (light: no store, no plotting)."""

from __future__ import annotations

from typing import Any


def quality_lines(q: dict[str, Any]) -> str:
    """Quality of each clip's newest version, suspects by rule, and how repairs ended."""
    counts = q["by_quality"]
    checked = counts.get("ok", 0) + counts.get("suspect", 0)
    share = f" ({counts.get('suspect', 0) / checked:.1%} of checked)" if checked else ""
    first = (f"quality: {counts.get('ok', 0)} ok, {counts.get('suspect', 0)} suspect{share}, "
             f"{counts.get('unchecked', 0)} unchecked (`mira qa recheck` checks them)")
    lines = [first]
    if q["by_rule"]:
        lines.append("  suspect by rule: " + ", ".join(
            f"{rule} {n} ({n / checked:.1%})" for rule, n in sorted(q["by_rule"].items(), key=lambda kv: -kv[1])))
    if q["repairs"]:
        lines.append("  repairs: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(q["repairs"].items())))
    return "\n".join(lines)
