"""Run in its own process so its peak RSS is the export's alone:

    python -m tests.store.export_child seed URL ROWS MARKED_EVERY
    python -m tests.store.export_child export URL FORMAT OUT [MODEL]

`export` prints one JSON line: rows written, seconds, the process's peak RSS before the export began and
after it ended (MiB). The growth between the two is what exporting cost in memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from shared.store import RecordStore
from shared.store.export import export
from tests.store.factories import seed


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    with RecordStore.open(url) as store:
        if command == "seed":
            seed(store, int(rest[0]), int(rest[1]))
            return
        fmt, out, *model = rest
        records = store.iter_records("latest", model=model[0] if model else None)
        before, started = _peak_mib(), time.perf_counter()
        rows = export(records, fmt, Path(out))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    after = _peak_mib()
    print(
        json.dumps(
            {"rows": rows, "seconds": round(seconds, 2), "peak_before_mib": before, "peak_after_mib": after}
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
