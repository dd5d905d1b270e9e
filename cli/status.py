"""`mira status [--json]`: per-stage lag and counts, failures by stage and reason, tokens and cost so far.

With no pipeline running it reads the record store only and loads no Kafka client; a local SQLite store is
read with the standard library, read-only (importing SQLAlchemy alone takes longer than the whole answer
should), falling back to the record store for anything else or anything unexpected."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from cli.commands import SUMMARY
from cli.words import plural
from shared.qa.report import quality_lines
from shared.qa.rules import RULES
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help=SUMMARY["status"], description=__doc__)
    p.add_argument("--json", action="store_true", help="one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    from cli.connect import running_settings

    settings = running_settings()
    state: dict[str, Any] = {"pipeline": None}
    if settings is not None:
        from cli import interrupt

        state["pipeline"] = {"bootstrap": settings.kafka_bootstrap}
        code = interrupt.run(_stream_state(settings, state))
        if code:
            return code  # interrupted
    state["records"] = _records(settings or Settings())
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        print_state(state)
    return 0


def _records(settings: Settings) -> dict[str, Any]:
    assert settings.database_url is not None
    quick = _sqlite_totals(settings.database_url)
    if quick is not None:
        return quick
    from shared.store import quality
    from shared.store.records import RecordStore

    with RecordStore.open(settings.database_url) as store:
        t = store.totals()
        q = quality.totals(store.engine, list(RULES))
    return _totals(t.versions, t.clips, t.latest_by_status, t.input_tokens, t.image_tokens, t.output_tokens,
                   t.cost_usd, {"by_quality": q.by_quality, "by_rule": q.by_rule, "repairs": q.repairs})


def _totals(versions: int, clips: int, latest: dict[str, int], inp: int, image: int, out: int,
            cost: float, quality: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"versions": versions, "clips": clips, "latest_by_status": latest, "input_tokens": inp,
            "image_tokens": image, "output_tokens": out, "cost_usd": round(cost, 6),
            "quality": quality or {"by_quality": {}, "by_rule": {}, "repairs": {}}}


NEWEST = ("SELECT status, COUNT(*) FROM caption_records r WHERE NOT EXISTS (SELECT 1 FROM caption_records n "
          "WHERE n.clip_id = r.clip_id AND n.version > r.version) GROUP BY status")
SUMS = ("SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(image_tokens), 0), "
        "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0.0) FROM caption_records")
_NEWEST_ROW = ("NOT EXISTS (SELECT 1 FROM caption_records n WHERE n.clip_id = r.clip_id AND n.version > "
               "r.version)")
QUALITY = (f"SELECT quality, COUNT(*) FROM caption_records r WHERE status = 'success' AND {_NEWEST_ROW} "
           "GROUP BY quality")
BY_RULE = ("SELECT " + ", ".join(f"""COALESCE(SUM(quality_reasons LIKE '%"rule": "{rule}"%'), 0)""" for rule in RULES)
           + f" FROM caption_records r WHERE quality = 'suspect' AND {_NEWEST_ROW}")
REPAIRS = "SELECT repair, COUNT(*) FROM caption_records WHERE repair IS NOT NULL GROUP BY repair"


def _sqlite_totals(url: str) -> dict[str, Any] | None:
    """RecordStore.totals() of a local SQLite file, read-only; None when the store should answer instead."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        return _totals(0, 0, {}, 0, 0, 0, 0.0)  # nothing recorded yet (and status creates nothing)
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as db:
            latest = {str(status): int(n) for status, n in db.execute(NEWEST)}
            versions, inp, image, out, cost = db.execute(SUMS).fetchone()
            by_quality = {str(q or "unchecked"): int(n) for q, n in db.execute(QUALITY)}
            by_rule = {rule: int(n) for rule, n in zip(RULES, db.execute(BY_RULE).fetchone(), strict=True) if n}
            repairs = {str(o): int(n) for o, n in db.execute(REPAIRS)}
    except sqlite3.Error:
        return None  # an older schema, a lock held too long: the store knows
    return _totals(int(versions), sum(latest.values()), latest, int(inp), int(image), int(out), float(cost),
                   {"by_quality": by_quality, "by_rule": by_rule, "repairs": repairs})


def print_state(state: dict[str, Any]) -> None:
    if state["pipeline"] is None:
        print("no pipeline is running on this MIRA_HOME (start one with `mira up`); stored records only:")
    else:
        print(f"pipeline on {state['pipeline']['bootstrap']}")
        rows = [[s["stage"], s["consumes"], s["published"], s["done"], s["lag"]] for s in state["stages"]]
        print(table(["stage", "consumes", "published", "done", "lag"], rows))
        print(f"records published: {state['records_published']}")
        print(f"dead letters: {state['dead_letters']['total']}")
        reasons = state["dead_letters"]["reasons"]
        if reasons:
            print(table(["count", "stage", "reason"], [[r["count"], r["stage"], r["reason"]] for r in reasons],
                        indent="  "))
    r = state["records"]
    latest = ", ".join(f"{n} {s}" for s, n in sorted(r["latest_by_status"].items())) or "none"
    print(f"records: {plural(r['versions'], 'version')} of {plural(r['clips'], 'clip')}; latest: {latest}")
    print(f"tokens: {r['input_tokens']} input ({r['image_tokens']} image), {r['output_tokens']} output; "
          f"cost ${r['cost_usd']:.6f}")
    print(quality_lines(r["quality"]))


def table(headers: list[str], rows: list[list[Any]], indent: str = "") -> str:
    """Columns as wide as their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) and bool(rows) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append(indent + "  ".join(parts).rstrip())
    return "\n".join(lines)


async def _stream_state(settings: Settings, state: dict[str, Any]) -> int:
    from services import STAGES, stage_class
    from shared import kafka
    from shared.deadletters import read_dead_letters
    from shared.topics import Topic

    ends = await kafka.topic_ends(settings, Topic)
    stages = []
    for name in STAGES:
        stage = stage_class(name)
        consumed = kafka.topic_name(settings, stage.consumes)
        mine = {tp: end for tp, end in ends.items() if tp.topic == consumed}
        done = await kafka.group_committed(settings, stage.group_id(), mine)
        total = sum(mine.values())
        stages.append({"stage": name, "consumes": stage.consumes.value, "published": total, "done": done,
                       "lag": total - done})
    state["stages"] = stages
    records = kafka.topic_name(settings, Topic.RECORDS)
    dead = kafka.topic_name(settings, Topic.DEAD_LETTERS)
    state["records_published"] = sum(end for tp, end in ends.items() if tp.topic == records)
    letters = await read_dead_letters(settings) if any(e for tp, e in ends.items() if tp.topic == dead) else []
    reasons = Counter((letter.stage, letter.reason[:100]) for letter in letters)
    state["dead_letters"] = {
        "total": len(letters),
        "reasons": [{"count": n, "stage": stage, "reason": reason} for (stage, reason), n in reasons.most_common(20)],
    }
    return 0
