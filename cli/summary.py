"""The summary `mira caption --wait` prints: counts, failures with reasons, tokens and cost; and, when no
model was configured, what was not done and what doing it would cost."""

from __future__ import annotations

import os
import sys
from collections import Counter

from cli.tracker import Tracker
from shared.messages import ClipJob
from shared.settings import Settings
from shared.topics import Topic

# Words MiraData's captions run to (about 330 in all) at ~1.35 tokens per word, plus JSON keys.
EXPECTED_OUTPUT_TOKENS = 500
PROMPT_TEXT_TOKENS = 450


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


def _print_skipped(tracker: Tracker, out: object) -> None:
    from shared.vision_models import cost_usd

    model = os.environ.get("MIRA_CAPTION_MODEL", "gpt-4o")
    hinted = tracker.progress.hinted.values()
    image = sum(h.grid.image_tokens for h in hinted)
    n = len(tracker.progress.hinted)
    estimate = cost_usd(model, image + n * PROMPT_TEXT_TOKENS, n * EXPECTED_OUTPUT_TOKENS)
    print(f"grids rendered and hinted: {n}", file=out)  # type: ignore[arg-type]
    print(
        "NOT captioned: no OPENAI_API_KEY or OPENAI_BASE_URL is set, so the caption model was not called and "
        "no records were written.\n"
        f"Captioning these {n} clips with {model} would cost about ${estimate:.4f} "
        f"(~{image + n * PROMPT_TEXT_TOKENS} input tokens incl. {image} image tokens, "
        f"~{n * EXPECTED_OUTPUT_TOKENS} output tokens).\n"
        "Set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) and run the same command again.",
        file=out,  # type: ignore[arg-type]
    )


def _range(job: ClipJob) -> str:
    if job.clip.start_s == 0 and job.clip.end_s is None:
        return ""
    return f" [{job.clip.start_s:g}-{job.clip.end_s if job.clip.end_s is not None else 'end'}s]"
