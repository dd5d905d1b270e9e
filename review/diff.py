"""Word-level differences between two versions of a caption, for the clip page (difflib on word lists)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Piece:
    kind: Literal["same", "removed", "added"]
    text: str


def word_diff(old: str | None, new: str | None) -> list[Piece]:
    """`old` -> `new` as runs of unchanged, removed and added words (a replacement is both)."""
    a, b = (old or "").split(), (new or "").split()
    pieces: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(Piece("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", " ".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("added", " ".join(b[j1:j2])))
    return pieces
