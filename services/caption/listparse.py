"""Splits a numbered-list reply into the five caption fields, for servers without json_schema output.

MiraData split free text with an unpublished parser that cut some captions mid-sentence. Here an item
starts only at the beginning of a line holding the next expected number ("1." then "2." ...), so numbers
inside sentences ("about 2.5 meters", "Dr. Lee", "3. Then ...") never split, and an item keeps every
line up to the next marker. A short label before a colon ("**Camera**:", "dense_caption:") is dropped.
"""

from __future__ import annotations

import re

FIELDS = ("dense_caption", "main_object_caption", "background_caption", "camera_caption", "style_caption")
_MARKER = re.compile(r"^[ \t]*(?:[*_#]+[ \t]*)?(\d)[.)](?:[*_]+)?[ \t]+", re.MULTILINE)
_LABEL = re.compile(r"^(\*\*)?([A-Za-z][\w ()/-]{0,40}?)(\*\*)?[ \t]*:(?:\*\*)?[ \t]*")
_LABEL_WORDS = {"caption", "description", "subject", "subjects", "object", "background", "camera", "style"}


def parse_numbered_list(text: str, fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """Map "1." .. "N." items to `fields`; fields whose item is missing are absent from the result."""
    starts: list[tuple[int, int]] = []  # (marker start, text start) of items 1, 2, ... in order
    for match in _MARKER.finditer(text):
        if int(match.group(1)) == len(starts) + 1 and len(starts) < len(fields):
            starts.append((match.start(), match.end()))
    out: dict[str, str] = {}
    for i, (_, begin) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        item = text[begin:end]
        if i + 1 == len(starts):  # the last item ends at a blank line: what follows is chatter
            item = re.split(r"\n[ \t]*\n", item, maxsplit=1)[0]
        out[fields[i]] = _clean(item)
    return out


def _clean(item: str) -> str:
    # Only a bold label or one naming a caption part is a label; "Medium shot: ..." is caption text.
    label = _LABEL.match(item.lstrip())
    if label:
        words = label.group(2).lower().replace("_", " ").split()
        if len(words) <= 4 and (label.group(1) or _LABEL_WORDS.intersection(words)):
            item = item.lstrip()[label.end():]
    text = " ".join(item.split())
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text).strip()
