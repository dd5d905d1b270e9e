"""`mira deadletters [--stage S] [--reason TEXT] [--json]`: what is on the dead-letter topic (stage, reason,
source, when); `mira deadletters replay [filters] [--dry-run]`: the original messages resubmitted to the
stage that dead-lettered them, once what made them fail has been fixed.

A replay of something since recorded is a no-op: every id is derived from the message (shared.ids), so the
stages find the grid, the answer and the record already there. Letters whose payload was cut to fit, or
that never were a valid message, cannot be replayed and are counted apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from cli.commands import SUMMARY


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deadletters", help=SUMMARY["deadletters"], description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=["replay"],
                   help="replay: resubmit the matching letters' messages to their stage")
    p.add_argument("--stage", help="only letters from this stage (ingest, framegrid, hint, caption, sink, recaption)")
    p.add_argument("--reason", metavar="TEXT", help="only letters whose reason contains TEXT (any case)")
    p.add_argument("--json", action="store_true", help="list the letters as one JSON array")
    p.add_argument("--dry-run", action="store_true", help="with replay: say what would be resubmitted, send nothing")


def run(args: argparse.Namespace) -> int:
    from cli import interrupt
    from cli.connect import running_settings

    settings = running_settings()
    if settings is None:
        print("mira deadletters: no pipeline is running on this MIRA_HOME, and the dead-letter topic lives in "
              "its broker: start one with `mira up`, or set MIRA_KAFKA_BOOTSTRAP", file=sys.stderr)
        return 1
    return interrupt.run(_replay(settings, args) if args.action == "replay" else _list(settings, args))


@dataclass(frozen=True)
class Row:
    stage: str
    reason: str
    error_type: str
    source: str | None
    clip_id: str | None
    job_id: str | None
    failed_at: str
    topic: str
    partition: int
    offset: int


async def _matching(settings: Any, args: argparse.Namespace) -> list[Any]:
    from shared.deadletters import read_dead_letters

    wanted = (args.reason or "").lower()
    return [letter for letter in await read_dead_letters(settings)
            if (args.stage is None or letter.stage == args.stage) and wanted in letter.reason.lower()]


async def _list(settings: Any, args: argparse.Namespace) -> int:
    rows = [_row(letter) for letter in await _matching(settings, args)]
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    if not rows:
        print("no dead letters" + (" match" if args.stage or args.reason else ""))
        return 0
    from cli.status import table

    print(table(["when", "stage", "source", "reason"],
                [[r.failed_at[:19], r.stage, r.source or r.clip_id or "?", r.reason] for r in rows]))
    print(f"{len(rows)} dead letters; `mira deadletters replay` with the same filters resubmits them")
    return 0


def _row(letter: Any) -> Row:
    return Row(stage=letter.stage, reason=letter.reason, error_type=letter.error_type, source=_source(letter.payload),
               clip_id=letter.clip_id, job_id=letter.job_id, failed_at=letter.failed_at.isoformat(),
               topic=letter.source_topic, partition=letter.partition, offset=letter.offset)


def _source(payload: str) -> str | None:
    """The clip's source as the original message names it (a submission, a job or a later message)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    clip = data.get("clip")
    found = (clip.get("source_uri") if isinstance(clip, dict) else None) or data.get("source")
    return str(found) if found else None


async def _replay(settings: Any, args: argparse.Namespace) -> int:
    from collections import Counter

    from shared import kafka

    letters = await _matching(settings, args)
    models = _models_by_topic(settings)
    messages: dict[tuple[str, str], BaseModel] = {}  # (topic, payload) -> message: each message once
    skipped: Counter[str] = Counter()
    for letter in letters:
        model = models.get(letter.source_topic)
        if model is None:
            skipped[f"from topic {letter.source_topic}, which no stage consumes"] += 1
            continue
        try:
            messages.setdefault((letter.source_topic, letter.payload), kafka.decode(model, letter.payload))
        except ValidationError:
            why = "payload cut to fit a letter" if "payload cut to" in letter.reason else "not a valid message"
            skipped[why] += 1
    by_stage = Counter(letter.stage for letter in letters if (letter.source_topic, letter.payload) in messages)
    if not args.dry_run and messages:
        await kafka.publish_all(settings, list(messages.values()))
    verb = "would resubmit" if args.dry_run else "resubmitted"
    stages = ", ".join(f"{n} to {stage}" for stage, n in sorted(by_stage.items()))
    print(f"{verb} {len(messages)} messages" + (f" ({stages})" if stages else "")
          + (f" from {len(letters)} dead letters" if len(letters) != len(messages) else ""))
    for why, n in skipped.items():
        print(f"  not replayable: {n} ({why})")
    return 0


def _models_by_topic(settings: Any) -> dict[str, type[BaseModel]]:
    """Each consumed topic's full name -> the message its stage reads."""
    from services import STAGES, stage_class
    from shared import kafka

    return {kafka.topic_name(settings, cls.consumes): cls.message for cls in map(stage_class, STAGES)}
