"""`mira qa recheck`: the current rules over stored records, without calling any model.

Records are read in id order and written back in batches: quality, reasons and the dense caption's text
hash (which records from before the quality checks lack, and the duplicate rule looks up). The duplicate
rule sees every record and logged answer with the same text on another grid, so both clips of a pair are
flagged, whichever was written first. Repairs and verdicts are left as they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

import prompt
from shared.messages import Quality
from shared.qa import rules
from shared.qa.settings import QualitySettings
from shared.store import quality
from shared.store.records import RecordStore

BATCH = 500


@dataclass
class Rechecked:
    checked: int = 0
    changed: int = 0  # records whose quality is not what it was (null counts)
    by_quality: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)


def recheck(store: RecordStore, settings: QualitySettings, latest_only: bool = False) -> Rechecked:
    out = Rechecked()
    rows = quality.stored(store.engine, latest_only)
    while chunk := list(islice(rows, BATCH)):
        hashes = [rules.text_hash(s.record.dense_caption or "") for s in chunk]
        grids = quality.grids_by_hash(store.engine, hashes)
        updates = []
        for stored, text_hash in zip(chunk, hashes, strict=True):
            record, captions = stored.record, stored.record.as_captions()
            assert captions is not None  # successful records only
            others = sorted(grids.get(text_hash, set()) - {record.grid_sha256})
            duplicate = f"the answer for grid {others[0][:12]}" if others else None
            hint = record.short_caption if record.hint_source in ("manifest", "model") else None
            found = rules.check(captions.parts(), settings.context(prompt.clean_hint(hint), duplicate,
                                                                   prompt.LANGUAGE))
            verdict: Quality = "suspect" if found else "ok"
            out.checked += 1
            out.changed += verdict != record.quality
            out.by_quality[verdict] += 1
            out.by_rule.update({r.rule for r in found})
            updates.append((stored.row_id, verdict, found, text_hash))
        quality.write(store.engine, updates)
    return out
