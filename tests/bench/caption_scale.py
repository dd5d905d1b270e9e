"""`python -m tests.bench.caption_scale` (make bench-caption-scale): issue 25's scale benchmark.

Does one caption replica keep a top-tier rate limit busy? Every service runs as its own `mira run` process on
one embedded broker (the pipeline bench's harness, tests/bench/services.py), SQLite, and the local model
server answering after a set latency under a set requests-per-minute limit (enforced per second, with 429s,
as OpenAI does). The render pass records MIRA_BENCH_CLIPS (default 1,000) clips once with an instant model;
then, per case, the caption replicas are replaced by fresh ones with the case's settings and the recaption
pass (`mira recaption --all --model NEW --wait`, grids reused) captions every clip again through them.

Per case it prints the achieved share of the ideal (ideal = clips / (RPM / 60) + latency: the rate limit
sending without a gap, plus one answer's wait), the most requests the model server was answering at once,
429s, and the caption processes' peak RSS and CPU per clip. With two replicas each gets half the RPM (a
tier is per account). The baseline, measured in the same run, is the old fixed cap: at most 256 requests
in flight (MIRA_CAPTION_MAX_IN_FLIGHT=256) at 10,000 RPM and 6 s. Goal: share >= 0.9 in every case, caption
RSS under 400 MiB with 1,000 requests out. Exit status 1 when a case loses clips or misses the share.

MIRA_BENCH_PY_SPY=/path/to/py-spy samples the caption replicas of every case (bench-out/profiles/CASE/).
A last case (memory-1000) answers after 30 s so that all 1,000 clips are out at once: caption's RSS there.
Quality repairs are off (MIRA_BENCH_REPAIR=once turns them on) and the stages before caption get 64 messages
in flight (MIRA_BENCH_UPSTREAM_IN_FLIGHT), so that what is measured is caption against the model's budget.

MIRA_BENCH_CASES picks cases by name (comma-separated, e.g. `10k-6s-x1,baseline-256`); all ten by default.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.pipeline import HEIGHT, SECONDS, WIDTH, PassResult, make_clips, run_pass
from tests.bench.services import Pipeline, memory_mib

GOAL_SHARE = 0.9
PARTITIONS = 4  # the pipeline's topics (MIRA_TOPIC_PARTITIONS default)
SETTLE_S = 60.0  # how long replicas may take to share the partitions after a replacement
# Quality repairs off: the ~1% of the local model's answers the rules flag would each be asked again, adding a
# whole latency to the end of a pass, which the ideal does not count (MIRA_BENCH_REPAIR=once to include them).
REPAIR = os.environ.get("MIRA_BENCH_REPAIR", "off")
# The stages before caption (recaption, hint) have no model to wait for here; with the runtime's default of 8
# messages in flight on a loaded 2-core machine they fed caption slower than 10,000 a minute.
UPSTREAM_IN_FLIGHT = os.environ.get("MIRA_BENCH_UPSTREAM_IN_FLIGHT", "64")


@dataclass(frozen=True)
class Case:
    name: str
    latency_s: float
    rpm: int
    replicas: int
    cap: int | None = None  # MIRA_CAPTION_MAX_IN_FLIGHT; None: the default

    def ideal_s(self, clips: int) -> float:
        return clips / (self.rpm / 60) + self.latency_s


BASELINE = Case("baseline-256", 6.0, 10_000, 1, cap=256)
# Memory with 1,000 requests out on one replica: answers slow enough that every clip is out at once even when
# this machine sends slower than 10,000 a minute (its share of the ideal is not a goal).
MEMORY = Case("memory-1000", 30.0, 10_000, 1)
CASES = [BASELINE] + [Case(f"{rpm // 1000}k-{latency:.0f}s-x{replicas}", latency, rpm, replicas)
                      for replicas in (1, 2) for rpm in (3_000, 10_000) for latency in (2.0, 6.0)] + [MEMORY]


@dataclass
class Measured:
    case: Case
    clips: int
    result: PassResult
    peak_out: int
    calls: int  # requests the model server answered (more than the clips: a question paid twice)
    rate_limited: int
    sending_s: float  # from the first request the model server answered to the last one's arrival
    rss_mib: float  # the largest caption replica's peak
    grown_mib: float  # the most a caption replica's RSS grew over its resting size during the pass
    caption_cpu_ms: float  # all caption replicas, per clip

    @property
    def kib_per_request(self) -> float:
        """Memory per request out: a replica's growth over its share of the peak the model server saw."""
        return self.grown_mib * 1024 / max(1.0, self.peak_out / self.case.replicas)

    @property
    def share(self) -> float:
        return self.case.ideal_s(self.clips) / self.result.seconds


def admin(pipeline: Pipeline, path: str, body: dict[str, object] | None = None) -> Any:
    """The model server's admin endpoints (a JSON answer)."""
    url = pipeline.env["OPENAI_BASE_URL"].removesuffix("/v1") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def assignments(pipeline: Pipeline) -> list[int]:
    """Partitions each caption replica holds, by the last assignment in its log."""
    held = []
    for n, _ in enumerate(p for p in pipeline.procs if p.label.startswith("caption")):
        text = (pipeline.home / "logs" / f"caption-{n + 1}.log").read_text(errors="replace")
        found = re.findall(r"caption assigned \[([0-9, ]*)\]", text)
        held.append(len(found[-1].split(",")) if found and found[-1].strip() else 0)
    return held


def add_caption(pipeline: Pipeline, env: dict[str, str], tries: int = 3) -> None:
    """One more caption replica; one the embedded broker never lets into the group (it happens, see
    docs/reliability.md) is killed and started again."""
    for attempt in range(1, tries + 1):
        try:
            pipeline.add("caption", env)
            return
        except SystemExit as exc:
            stuck = pipeline.procs.pop()  # added before its wait for partitions
            stuck.popen.kill()
            stuck.popen.wait()
            print(f"a caption replica got no partitions ({attempt}/{tries}): {str(exc).splitlines()[0]}", flush=True)
    raise SystemExit(f"no caption replica could join its group in {tries} tries")


def replace_captions(pipeline: Pipeline, case: Case) -> None:
    """Fresh caption replicas with the case's budget (peak memory counts from their start)."""
    pipeline.remove("caption")
    env = {"MIRA_CAPTION_RPM": str(case.rpm // case.replicas), "MIRA_CAPTION_REPAIR": REPAIR,
           # The production default instead of `mira up`'s 2 s: a replica busy with a thousand requests on a
           # loaded machine answered heartbeats late, left its group mid-pass and handed its work over.
           "MIRA_KAFKA_SESSION_TIMEOUT_MS": "10000", "MIRA_KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}
    if case.cap is not None:
        env["MIRA_CAPTION_MAX_IN_FLIGHT"] = str(case.cap)
    for _ in range(case.replicas):
        add_caption(pipeline, env)
    deadline = time.monotonic() + SETTLE_S
    while not (sum(held := assignments(pipeline)) == PARTITIONS and all(held) and pipeline.ready()):
        if time.monotonic() > deadline:
            raise SystemExit(f"caption replicas did not share the partitions: {held}")
        time.sleep(0.2)


def measure(pipeline: Pipeline, case: Case, clips: int, n: int) -> Measured:
    replace_captions(pipeline, case)
    admin(pipeline, "/admin/reset", {})
    admin(pipeline, "/admin/faults", {"latency_s": case.latency_s, "rpm": case.rpm})
    captions = [p for p in pipeline.procs if p.label.startswith("caption")]
    resting = {p.pid: memory_mib(p.pid) for p in captions}
    py_spy = os.environ.get("MIRA_BENCH_PY_SPY")  # a py-spy binary: sample the caption replicas
    labels = [p.label for p in pipeline.procs if p.label.startswith("caption")]
    spies = pipeline.profile(py_spy, labels, Path("bench-out/profiles") / case.name) if py_spy else []
    result = run_pass(pipeline, case.name, clips, "recaption", "--all", "--model", f"scale-{n}-{case.name}", "--wait")
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait()
    stats = admin(pipeline, "/admin/stats")
    if os.environ.get("MIRA_BENCH_TIMELINE"):  # requests the model server received, second by second
        sent = admin(pipeline, "/admin/requests")
        times = sorted(float(r["at"]) for r in sent)
        per_s = [0] * (int(times[-1] - times[0]) + 1)
        for t in times:
            per_s[int(t - times[0])] += 1
        repairs = sum(1 for r in sent if r["repair"])
        print(f"{case.name}: requests per second from the first: {per_s} ({repairs} quality repairs)", flush=True)
    measured = Measured(case, clips, result, int(stats["peak_out"]), int(stats["answered"]),
                        int(stats["rate_limited"]),
                        float(stats["sending_s"]),
                        max(memory_mib(p.pid, "VmHWM") for p in captions),
                        max(memory_mib(p.pid, "VmHWM") - resting[p.pid] for p in captions),
                        sum(ms for label, ms in result.cpu_ms.items() if label.startswith("caption")))
    print(f"{case.name} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): "
          f"{result.seconds:.1f} s for {clips} clips, {measured.share:.3f} of the ideal "
          f"{case.ideal_s(clips):.1f} s, peak {measured.peak_out} out, requests sent over {measured.sending_s:.1f} s "
          f"(rate limit: {clips / (case.rpm / 60):.1f} s); CPU ms per clip: "
          + ", ".join(f"{label} {ms:.2f}" for label, ms in result.cpu_ms.items()), flush=True)
    return measured


def report(rows: list[Measured]) -> None:
    base = next((r for r in rows if r.case == BASELINE), None)
    print(f"\n{'case':<14}{'latency':>8}{'RPM':>8}{'replicas':>9}{'cap':>6}{'wall s':>8}{'ideal s':>8}"
          f"{'share':>7}{'vs base':>8}{'peak out':>9}{'calls':>6}{'429s':>6}{'RSS MiB':>8}{'KiB/req':>9}{'CPU ms/clip':>12}")
    for r in rows:
        c = r.case
        ratio = f"{r.share / base.share:.2f}x" if base else "-"
        print(f"{c.name:<14}{c.latency_s:>7.0f}s{c.rpm:>8}{c.replicas:>9}{c.cap or 'auto':>6}"
              f"{r.result.seconds:>8.1f}{c.ideal_s(r.clips):>8.1f}{r.share:>7.3f}{ratio:>8}{r.peak_out:>9}"
              f"{r.calls:>6}{r.rate_limited:>6}{r.rss_mib:>8.0f}{r.kib_per_request:>9.0f}{r.caption_cpu_ms:>12.2f}")
    print("\nRSS MiB: the largest caption replica's peak; KiB/req: its growth over its resting size per request "
          "it had out; CPU ms/clip: all caption replicas together")
    if base:
        print(f"vs base: share of the ideal against the old fixed cap of 256 ({BASELINE.name}) in this run")


def main() -> int:
    count = int(os.environ.get("MIRA_BENCH_CLIPS", "1000"))
    wanted = [n for n in os.environ.get("MIRA_BENCH_CASES", "").split(",") if n]
    unknown = set(wanted) - {c.name for c in CASES}
    if unknown:
        raise SystemExit(f"unknown MIRA_BENCH_CASES {sorted(unknown)}; known: {[c.name for c in CASES]}")
    cases = [c for c in CASES if not wanted or c.name in wanted]
    clips_dir = Path(os.environ.get("MIRA_BENCH_DIR", "bench-out/pipeline-clips")) / f"{WIDTH}x{HEIGHT}"
    print(f"making {count} clips of {WIDTH}x{HEIGHT}, {SECONDS:.0f} s in {clips_dir} ...", flush=True)
    make_clips(clips_dir, count)
    rows: list[Measured] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mira-bench-scale-")))
        folder = tmp / "clips"
        folder.mkdir()
        for clip in sorted(clips_dir.glob("*.mp4"))[:count]:
            (folder / clip.name).symlink_to(clip.resolve())
        pipeline = Pipeline(tmp / "sqlite", env={"MIRA_MAX_IN_FLIGHT": UPSTREAM_IN_FLIGHT})
        stack.callback(pipeline.stop)
        pipeline.start()
        render = run_pass(pipeline, "render", count, "caption", str(folder), "--wait")
        print(f"render pass (instant model): {render.rate:.0f} clips/s", flush=True)
        if not render.ok:
            return 1
        for n, case in enumerate(cases):
            try:
                rows.append(measure(pipeline, case, count, n))
            except SystemExit as exc:  # the embedded broker let no replica into the group: report what was run
                print(f"{case.name}: not measured ({str(exc).splitlines()[0]}); the cases after it are skipped")
                break
    report(rows)
    missed = [r.case.name for r in rows if r.case not in (BASELINE, MEMORY) and r.share < GOAL_SHARE]
    lost = [r.case.name for r in rows if not r.result.ok]
    for r in rows:
        if r.case == MEMORY:
            print(f"caption RSS with {r.peak_out} requests out: {r.rss_mib:.0f} MiB (goal < 400 with 1,000), "
                  f"{r.kib_per_request:.0f} KiB per request out")
            if r.rss_mib >= 400:
                missed.append(r.case.name)
    print(f"goal >= {GOAL_SHARE} of the ideal: " + (f"MISSED in {', '.join(missed)}" if missed else "met in every case")
          + (f"; clips lost in {', '.join(lost)}" if lost else ""))
    return 1 if missed or lost or len(rows) < len(cases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
