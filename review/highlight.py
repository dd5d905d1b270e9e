"""Marks the offending words of a record's quality reasons in its caption text, for the review page.

A reason's detail quotes the words as the rule found them (the last quoted text; whitespace may have been
collapsed), so they are found again case- and whitespace-insensitively. Pieces come back in order, each
with the rule that flagged it (None for plain text); the template escapes them.
"""

from __future__ import annotations

import re

from shared.messages import CaptionRecord

Piece = tuple[str, str | None]


def offending(detail: str) -> str | None:
    quoted = re.findall(r'"([^"]+)"', detail)
    return quoted[-1] if quoted else None


def pieces(record: CaptionRecord, field: str) -> list[Piece]:
    text = getattr(record, field) or ""
    spans: list[tuple[int, int, str]] = []
    for reason in record.quality_reasons or []:
        words = offending(reason.detail) if reason.field == field else None
        if not words:
            continue
        pattern = r"\s+".join(re.escape(w) for w in words.split())
        found = re.search(pattern, text, re.IGNORECASE) or re.search(pattern.replace("'", "[\"']"), text, re.IGNORECASE)
        if found and not any(a < found.end() and found.start() < b for a, b, _ in spans):
            spans.append((found.start(), found.end(), reason.rule))
    out: list[Piece] = []
    at = 0
    for start, end, rule in sorted(spans):
        out += [(text[at:start], None)] if start > at else []
        out.append((text[start:end], rule))
        at = end
    return out + ([(text[at:], None)] if at < len(text) or not out else [])
