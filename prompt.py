"""The caption prompt: what the model is told about the grid image, the hint and the five answers it owes.

MiraData's recipe in our own words (see shared/reference.md): one image holding 8 equally spaced frames as
a 2x4 grid, an optional hint sentence from a short-caption model, and five caption types returned in one
call. With no hint, the same call also writes the sixth, a one-sentence short caption (a sixth schema
field, only then). `PROMPT_VERSION` is a stable hash of every text this module can send plus both output
schemas, so a record says exactly which instructions produced it and `mira recaption --prompt-version-not`
finds the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

GRID_ROWS, GRID_COLS = 2, 4
LANGUAGE = "en"  # what the instructions ask for, and what the quality rules expect


class FiveParts(BaseModel):
    """The output schema with a hint: the five fields, strict (all required, nothing else)."""

    model_config = ConfigDict(extra="forbid")
    dense_caption: str
    main_object_caption: str
    background_caption: str
    camera_caption: str
    style_caption: str


class SixParts(FiveParts):
    """The output schema without a hint: the model writes the short caption too."""

    short_caption: str


OUTPUT_SCHEMA: type[BaseModel] = FiveParts


def output_schema(short: bool) -> type[BaseModel]:
    return SixParts if short else FiveParts

_GRID = (
    "The image shows one video clip as {frames} frames taken at equal time intervals, laid out in a grid "
    "of {rows} rows and {cols} columns separated by thin white lines. Time runs left to right along the "
    "top row, then left to right along the {next_rows}. Read the frames together as one continuous video, "
    "not as separate pictures."
)
_HINT = (
    'A short caption written by another model says this video depicts "{hint}". Use it as a clue to the '
    "main content, but trust what you can see wherever the two disagree."
)
_DEFAULT_TASK = """Describe the video in five parts:
1. dense_caption: a detailed description of the whole video in more than three sentences (about 90 \
words), written like a prompt for a text-to-video model: who or what is there, what happens, where, and \
how things change over time.
2. main_object_caption: the main subject or subjects (about 65 words): what or who they are, their \
appearance and attributes, their actions and positions, and how they move during the video.
3. background_caption: the surroundings (about 60 words): objects in the background, the place, the \
weather and the time of day.
4. camera_caption: the camera (about 60 words): shot type (close-up, medium, wide, aerial), camera \
movement (static, pan, tilt, zoom, tracking, handheld) and any change of angle or viewpoint.
5. style_caption: one sentence on the visual, photographic and artistic style.

Write every part in English. Describe the video as continuous motion. Never narrate it frame by frame and never mention frames, the \
grid or the image layout (no "the first frame", "in the top row", "across the images"). Do not end any \
part with a summary or a concluding remark. Write plain prose: no lists, headings or markdown inside a part."""


_SHORT = """6. short_caption: one sentence of about 14 words saying what the video shows, like a caption \
under it."""


def _task() -> str:
    """The instructions: ours, or the text of MIRA_PROMPT_FILE (a prompt upgrade without a new image; the
    prompt version follows the text, so `mira recaption --prompt-version-not current` finds older records)."""
    path = os.environ.get("MIRA_PROMPT_FILE")
    if not path:
        return _DEFAULT_TASK
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"MIRA_PROMPT_FILE {path} is empty")
    return text


_TASK = _task()

# Sent only to servers that do not support json_schema output: the reply is then split by prompt-free code.
LIST_FORMAT = (
    "Answer with exactly five numbered paragraphs in the order above, each starting on a new line with its "
    'number and a period ("1.", "2.", ...) followed directly by the text, nothing before the first one.'
)
REPAIR = (
    "Your previous answer could not be used: {problem}. Answer again with all five parts, each one "
    "non-empty and complete."
)
# Asked once when an answer breaks a quality rule (services/caption/repair.py); the problems are listed.
QUALITY_REPAIR = (
    "Your previous answer has these problems:\n{problems}\nAnswer again with every part, fixing them: "
    "describe the video itself as continuous motion (never the frames, the grid or its layout), in complete "
    "sentences of plain English prose, with each part its expected length, and about this clip only."
)


def grid_description(rows: int = GRID_ROWS, cols: int = GRID_COLS) -> str:
    """How the sent image is laid out; rows and cols must match the image the renderer made."""
    if rows < 1 or cols < 1:
        raise ValueError(f"a grid needs at least one row and one column, got {rows}x{cols}")
    next_rows = "bottom row" if rows == 2 else "rows below, from top to bottom"
    return _GRID.format(frames=rows * cols, rows=rows, cols=cols, next_rows=next_rows)


def clean_hint(hint: str | None) -> str | None:
    """The hint as it goes in quotes: one line, no double quotes that would end the quotation early."""
    if hint is None:
        return None
    text = " ".join(hint.replace('"', "'").split()).rstrip(".")
    return text or None


def writes_short(hint: str | None) -> bool:
    """Whether the model writes the short caption: when no hint source gave one."""
    return clean_hint(hint) is None


def build_prompt(hint: str | None, rows: int = GRID_ROWS, cols: int = GRID_COLS, numbered_list: bool = False) -> str:
    """The user text sent with the grid image: with the hint sentence when there is a hint, else with the
    short caption as a sixth part."""
    parts = [grid_description(rows, cols)]
    hint_text = clean_hint(hint)
    if hint_text:
        parts.append(_HINT.format(hint=hint_text))
    parts.append(_TASK if hint_text else f"{_TASK}\n\n{_SHORT}")
    if numbered_list:
        parts.append(LIST_FORMAT.replace("five", "six") if not hint_text else LIST_FORMAT)
    return "\n\n".join(parts)


def repair_instruction(problem: str) -> str:
    return REPAIR.format(problem=problem)


def quality_repair_instruction(problems: list[str]) -> str:
    return QUALITY_REPAIR.format(problems="\n".join(f"- {p}" for p in problems))


def prompt_version(
    rows: int = GRID_ROWS, cols: int = GRID_COLS, schema: type[BaseModel] = OUTPUT_SCHEMA
) -> str:
    """12 hex digits of SHA-256 over every instruction text and both output JSON schemas (with and without
    the short caption)."""
    texts = [grid_description(rows, cols), _HINT, _TASK, _SHORT, LIST_FORMAT, REPAIR, QUALITY_REPAIR]
    schemas = [schema.model_json_schema(), SixParts.model_json_schema()]
    blob = json.dumps({"texts": texts, "schema": schemas}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


PROMPT_VERSION = prompt_version()
