"""The summary `mira caption --wait` prints: counts, failures with reasons, tokens and cost; and, when no
model was configured, what was not done and what doing it would cost."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from cli.tracker import Tracker
from services.caption.request import estimate_usage
from services.caption.settings import CaptionSettings
from shared.messages import ClipJob
from shared.settings import Settings
from shared.topics import Topic


def print_summary(tracker: Tracker, jobs: list[ClipJob], problems: list[str], settings: Settings) -> int:
    p = tracker.progress
    out = sys.stdout
    names = {j.job_id: j.clip.source_uri + _range(j) for j in jobs}
    print(f"clips: {len(jobs)} submitted", file=out)
    if tracker.done_at is Topic.RECORDS:
        statuses = Counter(r.status for r in p.recorded.values())
        print("recorded: " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "0"), file=out)
        tokens = [sum(getattr(r, k) for r in p.recorded.values())
                  for k in ("input_tokens", "image_tokens", "output_tokens")]
        cost = sum(r.cost_usd for r in p.recorded.values())
        print(f"tokens: {tokens[0]} input ({tokens[1]} image), {tokens[2]} output; cost ${cost:.4f}", file=out)
        for job_id, r in p.recorded.items():
            if r.status != "success":
                print(f"  {r.status}: {names[job_id]}: {r.reason}", file=out)
    else:
        _print_skipped(tracker, out)
    if p.dead:
        print(f"dead-lettered: {len(p.dead)}", file=out)
        for job_id, letter in p.dead.items():
            print(f"  {letter.stage}: {names.get(job_id, job_id)}: {letter.reason}", file=out)
    for problem in problems:
        print(f"  not submitted: {problem}", file=out)
    if tracker.pending:
        print(f"unfinished: {len(tracker.pending)} clips", file=out)
    failed = len(p.dead) + len(tracker.pending) + len(problems)
    failed += sum(1 for r in p.recorded.values() if r.status != "success")
    return 1 if failed else 0


def _print_skipped(tracker: Tracker, out: TextIO) -> None:
    settings = CaptionSettings()
    model = settings.caption_model
    usages = [estimate_usage(model, h.grid.width, h.grid.height, settings) for h in tracker.progress.hinted.values()]
    n = len(usages)
    inp, image, output = (sum(getattr(u, k) for u in usages) for k in ("input_tokens", "image_tokens", "output_tokens"))
    print(f"grids rendered and hinted: {n}", file=out)
    print(
        "NOT captioned: no OPENAI_API_KEY or OPENAI_BASE_URL is set, so the caption model was not called and "
        "no records were written.\n"
        f"Captioning these {n} clips with {model} would cost about ${sum(u.cost_usd for u in usages):.4f} "
        f"(~{inp} input tokens incl. {image} image tokens, ~{output} output tokens).\n"
        "Set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) and run the same command again.",
        file=out,
    )


def _range(job: ClipJob) -> str:
    if job.clip.start_s == 0 and job.clip.end_s is None:
        return ""
    return f" [{job.clip.start_s:g}-{job.clip.end_s if job.clip.end_s is not None else 'end'}s]"
