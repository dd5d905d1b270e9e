"""The summary `mira caption --wait` prints: counts, failures with reasons, this run's model calls, tokens
and cost apart from clips recorded before (a rerun pays nothing and says so); and, when no model was
configured, what was not done, what doing it would cost, and where the rendered grids are."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from cli.tracker import Tracker
from cli.words import plural
from shared.messages import ClipJob
from shared.settings import Settings
from shared.topics import Topic
from shared.vision_models import PLACEHOLDER_MODEL


def print_summary(tracker: Tracker, jobs: list[ClipJob], problems: list[str], settings: Settings,
                  request_id: str, stopped: list[str] | None = None) -> int:
    """Print the summary; the exit status: 0 when every clip was recorded successfully, else 1."""
    p = tracker.progress
    out = sys.stdout
    names = {**tracker.names, **{j.job_id: j.clip.source_uri + _range(j) for j in jobs}}
    print(f"clips: {len(jobs)} submitted", file=out)
    if p.split:
        clips, dropped = (sum(len(getattr(c, k)) for c in p.split.values()) for k in ("clips", "dropped"))
        print(f"split: {len(p.split)} videos into {clips} clips at shot boundaries; {dropped} shots dropped",
              file=out)
        shots = [(c.source_uri, d) for c in p.split.values() for d in c.dropped]
        for source, shot in shots[:10]:
            print(f"  dropped: {source} [{shot.start_s:g}-{shot.end_s:g}s]: {shot.reason}", file=out)
        if len(shots) > 10:
            print(f"  dropped: {len(shots) - 10} more shots", file=out)
    if tracker.done_at is Topic.RECORDS:
        _print_records(tracker, names, request_id, out)
    else:
        _print_skipped(tracker, settings, out)
    if p.dead:
        print(f"dead-lettered: {len(p.dead)}", file=out)
        for job_id, letter in p.dead.items():
            print(f"  {letter.stage}: {names.get(job_id, job_id)}: {letter.reason}", file=out)
    for problem in problems:
        print(f"  not submitted: {problem}", file=out)
    for reason in stopped or []:
        print(f"stopped early: {reason}", file=out)
    if tracker.pending:
        print(f"unfinished: {plural(len(tracker.pending), 'clip')}", file=out)
    failed = len(p.dead) + len(tracker.pending) + len(problems) + len(stopped or [])
    failed += sum(1 for r in p.recorded.values() if r.status != "success")
    return 1 if failed else 0


def _print_records(tracker: Tracker, names: dict[str, str], request_id: str, out: TextIO) -> None:
    recorded = tracker.progress.recorded
    statuses = Counter(r.status for r in recorded.values())
    # A clip recorded by an earlier request comes back as the version already stored: nothing was paid now.
    now = [r for r in recorded.values() if r.request_id == request_id]
    before = len(recorded) - len(now)
    print("recorded: " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "0")
          + (f" ({before} already recorded, no model call)" if before else ""), file=out)
    tokens = [sum(getattr(r, k) for r in now) for k in ("input_tokens", "image_tokens", "output_tokens")]
    calls = sum(1 for r in now if r.input_tokens or r.output_tokens)
    print(f"this run: {plural(calls, 'model call')}; tokens: {tokens[0]} input ({tokens[1]} image), "
          f"{tokens[2]} output; cost ${usd(sum(r.cost_usd for r in now))}", file=out)
    models = Counter(r.model for r in recorded.values() if r.model)
    if models:
        print("model: " + ", ".join(f"{m} ({n})" if len(models) > 1 else m for m, n in models.most_common()),
              file=out)
    if PLACEHOLDER_MODEL in models:
        print(f"  {PLACEHOLDER_MODEL} is Mira's local offline model: PLACEHOLDER captions, which describe no "
              "video; set OPENAI_API_KEY (or OPENAI_BASE_URL) for real ones", file=out)
    for job_id, r in recorded.items():
        if r.status != "success":
            print(f"  {r.status}: {names[job_id]}: {r.reason}", file=out)


def usd(amount: float) -> str:
    """Costs to the micro-dollar: enough for one cheap call, no float noise."""
    return f"{amount:.6f}"


def _print_skipped(tracker: Tracker, settings: Settings, out: TextIO) -> None:
    from services.caption.request import estimate_usage  # loads the OpenAI SDK: only when it is needed
    from services.caption.settings import CaptionSettings

    caption = CaptionSettings()
    model = caption.caption_model
    usages = [estimate_usage(model, h.grid.width, h.grid.height, caption) for h in tracker.progress.hinted.values()]
    n = len(usages)
    inp, image, output = (sum(getattr(u, k) for u in usages) for k in ("input_tokens", "image_tokens", "output_tokens"))
    print(f"grids rendered and hinted: {n}", file=out)
    print(
        "NOT captioned: no OPENAI_API_KEY or OPENAI_BASE_URL is set, so the caption model was not called and "
        "no records were written.\n"
        f"Captioning {'this clip' if n == 1 else f'these {n} clips'} with {model} would cost about ${usd(sum(u.cost_usd for u in usages))} "
        f"(~{inp} input tokens incl. {image} image tokens, ~{output} output tokens).\n"
        "Set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) and run the same command again.",
        file=out,
    )
    grids = [h.grid.uri.removeprefix("file://") for h in tracker.progress.hinted.values()]
    if grids:
        print(f"The {plural(n, 'rendered grid')} (the images the model would see) are JPEG files in the blob store "
              f"{settings.blob_url}, e.g.\n  " + "\n  ".join(grids[:3])
              + f"\nOpen them in any image viewer (e.g. `xdg-open {grids[0]}`).",
              file=out)


def _range(job: ClipJob) -> str:
    if job.clip.start_s == 0 and job.clip.end_s is None:
        return ""
    return f" [{job.clip.start_s:g}-{job.clip.end_s if job.clip.end_s is not None else 'end'}s]"
