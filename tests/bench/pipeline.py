"""`python -m tests.bench.pipeline` (make bench-pipeline): issue 13's per-clip overhead of the whole pipeline.

Every service runs as its own `mira run` process on one embedded broker, with the local model server
answering at once and without rate limits, so our services are what sets the pace. It captions
MIRA_BENCH_CLIPS (default 600) distinct 256x144, 2 s clips: the render pass (`mira caption DIR --wait`),
then the recaption pass (`mira recaption --all --model other --wait`, grids reused), then more recaption
passes (MIRA_BENCH_EXTRA_PASSES, default 2) to show whether the caption process's memory stays flat. It
prints clips/s, CPU ms per clip of every process, peak memory per process, and the Kafka-only floor of the
same topology measured in the same run. Then, on PostgreSQL (when reachable), the recaption pass (three
times, the median shown) with one and with two caption and sink replicas (scale-out; MIRA_BENCH_SCALE_OUT=0
skips it), in two cases: with the model answering at once, where every process competes for the same
cores, and with a slow model and few requests per caption replica, where caption alone sets the pace.
Clips/s count from the moment the command has published its work until it returns with every clip
recorded. Exit status 1 when a pass loses clips.

MIRA_BENCH_PY_SPY=/path/to/py-spy also samples caption, sink and framegrid during the first two passes
(folded stacks in bench-out/profiles/NAME.txt).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import psycopg

from shared.messages import (
    CaptionRecord,
    CaptionResult,
    ClipSpan,
    ClipSubmission,
    GridInfo,
    GridReady,
    Hint,
    HintReady,
    Usage,
    VideoInfo,
)
from shared.settings import Settings
from shared.store.records import RecordStore
from tests.bench import floor
from tests.bench.services import AS_MIRA_UP, Pipeline, cpu_s, memory_mib, postgresql_cpu_s, postgresql_used_s
from tests.media.videos import draw_frame, make_texture
from tests.store.databases import temporary_database

WIDTH, HEIGHT, SECONDS, FPS = 256, 144, 2.0, 24
PUBLISHED = ("submitted ", "published recaption request")
PROFILED = ["caption", "sink", "framegrid"]
# The caption-bound scale-out case: a model as slow as a hosted one, few requests per replica.
SLOW_MODEL_S, SLOW_MODEL_IN_FLIGHT = 0.2, 4
SCALE_OUT_PASSES = 3  # recaption passes at each replica count, of which the median is shown


def make_clips(folder: Path, count: int) -> None:
    """`count` distinct clips (each pans its own texture), encoded once and kept for later runs."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = round(SECONDS * FPS)
    for i in range(count):
        path = folder / f"clip-{i:05d}.mp4"
        if path.exists():
            continue
        texture = make_texture(WIDTH + 2 * frames + 1, HEIGHT, seed=i)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            for f in range(frames):
                picture = np.ascontiguousarray(draw_frame(f, WIDTH, HEIGHT, texture))
                out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
            out.mux(stream.encode())


@dataclass
class PassResult:
    name: str
    clips: int
    seconds: float  # from "published" to the command's return
    cpu_ms: dict[str, float]  # per process, per clip
    ok: bool

    @property
    def rate(self) -> float:
        return self.clips / self.seconds

    @property
    def total_cpu_ms(self) -> float:
        return sum(self.cpu_ms.values())

    @property
    def cores_busy(self) -> float:
        """Cores' worth of CPU the whole pipeline used while the pass ran."""
        return self.rate * self.total_cpu_ms / 1000


def run_pass(pipeline: Pipeline, name: str, clips: int, *argv: str) -> PassResult:
    """Run one `mira` command against the pipeline; CPU per clip of every process over the command."""
    before, pg_before = pipeline.cpu(), postgresql_cpu_s()
    cmd = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], env=pipeline.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    published: list[float] = []
    tail: list[str] = []

    def watch() -> None:
        assert cmd.stderr is not None
        for line in cmd.stderr:
            tail.append(line)
            if not published and line.startswith(PUBLISHED):
                published.append(time.monotonic())

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    _, status, usage = os.wait4(cmd.pid, 0)
    ended = time.monotonic()
    cmd.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    summary = cmd.stdout.read() if cmd.stdout else ""
    after = pipeline.cpu()
    cpu = {label: (after[label] - before.get(label, 0.0)) * 1000 / clips for label in after}
    if pipeline.database_url:  # the scale-out cases' store, on the same cores
        cpu["postgresql"] = postgresql_used_s(pg_before, postgresql_cpu_s()) * 1000 / clips
    cpu["mira (command)"] = (usage.ru_utime + usage.ru_stime) * 1000 / clips
    ok = cmd.returncode == 0 and f"{clips} success" in summary
    if not ok:
        print(f"{name}: exit {cmd.returncode}\n{summary}{''.join(tail[-10:])}", file=sys.stderr)
    return PassResult(name, clips, ended - (published[0] if published else ended), cpu, ok)


def report(results: list[PassResult], floor_rate: float, pipeline: Pipeline) -> None:
    labels = list(dict.fromkeys(label for r in results for label in r.cpu_ms))  # replicas join later
    print(f"\n{'CPU ms per clip':<22}" + "".join(f"{r.name:>16}" for r in results))
    for label in labels:
        print(f"{label:<22}" + "".join(f"{r.cpu_ms.get(label, 0.0):>16.2f}" for r in results))
    print(f"{'all processes':<22}" + "".join(f"{r.total_cpu_ms:>16.2f}" for r in results))
    print(f"{'clips/s':<22}" + "".join(f"{r.rate:>16.1f}" for r in results))
    print(f"{f'cores busy (of {os.cpu_count()})':<22}" + "".join(f"{r.cores_busy:>16.2f}" for r in results))
    print(f"{'share of Kafka floor':<22}" + "".join(f"{r.rate / floor_rate:>16.3f}" for r in results))
    print(f"\n{'peak RSS MiB':<22}" + "".join(f"{p.label:>13}" for p in pipeline.procs))
    print(f"{'':<22}" + "".join(f"{memory_mib(p.pid, 'VmHWM'):>13.0f}" for p in pipeline.procs))


def measure_floor(pipeline: Pipeline, clips_dir: Path, count: int, home: Path, tries: int = 3) -> float:
    """The floor's best of `tries` runs (on fresh topics each), so a burst of load elsewhere does not set it."""
    subs = [ClipSubmission(source=str(p), request_id="floor") for p in sorted(clips_dir.glob("*.mp4"))[:count]]
    with RecordStore.open(f"sqlite:///{home / 'mira.db'}") as store:
        sample = sample_result(next(iter(store.iter_records())))
    best: tuple[float, float, float] | None = None
    for attempt in range(tries):
        settings = Settings(home=home, kafka_bootstrap=pipeline.env["MIRA_KAFKA_BOOTSTRAP"],
                            topic_prefix=f"floor{attempt}.", **AS_MIRA_UP)
        broker_before, own_before = cpu_s(pipeline.procs[1].pid), cpu_s(os.getpid())
        rate = count / asyncio.run(floor.run_floor(settings, subs, sample))
        own = (cpu_s(os.getpid()) - own_before) * 1000 / count
        broker = (cpu_s(pipeline.procs[1].pid) - broker_before) * 1000 / count
        if best is None or rate > best[0]:
            best = (rate, own, broker)
    assert best is not None
    print(f"\nKafka-only floor (same topology, pass-through handlers, one process, best of {tries}): "
          f"{best[0]:.0f} clips/s; CPU ms per clip: handlers {best[1]:.2f}, broker {best[2]:.2f}")
    return best[0]


def sample_result(record: CaptionRecord) -> CaptionResult:
    """A real record's parts as the floor's stand-ins for grid, hint and captions."""
    clip = ClipSpan(clip_id=record.clip_id, video_id=record.video_id, source_uri=record.source_uri)
    grid = GridInfo(uri=record.grid_uri, sha256=record.grid_sha256, width=1024, height=288,
                    frame_times_s=record.frame_times_s, sample_mode="auto", image_tokens=record.image_tokens)
    video = VideoInfo(fps=record.fps, width=record.width, height=record.height, duration_s=record.duration_s)
    ready = GridReady(job_id=record.job_id, request_id=record.request_id, clip=clip, video=video, grid=grid)
    hinted = HintReady(**ready.model_dump(), hint=Hint(text=record.short_caption, source=record.hint_source))
    usage = Usage(input_tokens=record.input_tokens, image_tokens=record.image_tokens,
                  output_tokens=record.output_tokens, cost_usd=record.cost_usd)
    return CaptionResult(**hinted.model_dump(), status="success", captions=record.as_captions(),
                         model=record.model, prompt_version=record.prompt_version, usage=usage)


def caption_memory(pipeline: Pipeline, calls: int) -> str:
    caption = next(p for p in pipeline.procs if p.label == "caption")
    return f"caption RSS after {calls:,} calls: {memory_mib(caption.pid):.0f} MiB"


def main() -> int:
    count = int(os.environ.get("MIRA_BENCH_CLIPS", "600"))
    extra = int(os.environ.get("MIRA_BENCH_EXTRA_PASSES", "2"))
    clips_dir = Path(os.environ.get("MIRA_BENCH_DIR", "bench-out/pipeline-clips")) / f"{WIDTH}x{HEIGHT}"
    print(f"making {count} clips of {WIDTH}x{HEIGHT}, {SECONDS:.0f} s in {clips_dir} ...", flush=True)
    make_clips(clips_dir, count)
    clips = sorted(clips_dir.glob("*.mp4"))[:count]
    ok = True
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mira-bench-")))
        folder = tmp / "clips"
        folder.mkdir()
        for clip in clips:
            (folder / clip.name).symlink_to(clip.resolve())
        pipeline = Pipeline(tmp / "sqlite")
        stack.callback(pipeline.stop)
        pipeline.start()
        print("\nSQLite, one replica of each service", flush=True)
        py_spy = os.environ.get("MIRA_BENCH_PY_SPY")  # a py-spy binary: profile these passes
        spies = pipeline.profile(py_spy, PROFILED, Path("bench-out/profiles")) if py_spy else []
        results = [run_pass(pipeline, "render", count, "caption", str(folder), "--wait"),
                   run_pass(pipeline, "recaption", count, "recaption", "--all", "--model", "other", "--wait")]
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        memory = [caption_memory(pipeline, 2 * count)]
        for n in range(extra):
            run_pass(pipeline, f"recaption {n + 3}", count, "recaption", "--all", "--model", f"other-{n}", "--wait")
            memory.append(caption_memory(pipeline, (n + 3) * count))
        ok &= all(r.ok for r in results)
        floor_rate = measure_floor(pipeline, folder, count, tmp / "sqlite")
        report(results, floor_rate, pipeline)
        print("\n" + "\n".join(memory))
        if os.environ.get("MIRA_BENCH_SCALE_OUT", "1") != "0":
            ok &= scale_out(stack, tmp, folder, count, floor_rate)
    return 0 if ok else 1


# Scale-out, each case on its own PostgreSQL database: (title, model latency s, settings of every service).
SCALE_OUT_CASES = [
    ("model answers at once: every process shares the same cores (CPU-bound)", 0.0, {}),
    (f"model answers after {SLOW_MODEL_S} s, at most {SLOW_MODEL_IN_FLIGHT} requests in flight per caption replica",
     SLOW_MODEL_S, {"MIRA_CAPTION_MAX_IN_FLIGHT": str(SLOW_MODEL_IN_FLIGHT)}),
]


def median_pass(pipeline: Pipeline, name: str, count: int) -> PassResult:
    """SCALE_OUT_PASSES recaption passes (each with a model of its own, so each pays for every clip); the
    median by clips/s. A pass of a few seconds is at the mercy of one busy moment on the machine."""
    passes = [run_pass(pipeline, name, count, "recaption", "--all", "--model", f"{name.replace(' ', '-')}-{n}", "--wait")
              for n in range(SCALE_OUT_PASSES)]
    print(f"{name}: " + ", ".join(f"{p.rate:.1f}" for p in passes) + " clips/s", flush=True)
    ranked = sorted(passes, key=lambda p: p.rate)
    return replace(ranked[len(ranked) // 2], ok=all(p.ok for p in passes))


def scale_out(stack: ExitStack, tmp: Path, folder: Path, count: int, floor_rate: float) -> bool:
    ok = True
    for n, (title, latency, env) in enumerate(SCALE_OUT_CASES):
        try:
            url = stack.enter_context(temporary_database())
        except psycopg.OperationalError as exc:
            print(f"\nPostgreSQL not reachable, scale-out skipped: {exc}")
            return ok
        pipeline = Pipeline(tmp / f"postgresql-{n}", database_url=url, model_latency_s=latency, env=env)
        stack.callback(pipeline.stop)
        pipeline.start()
        print(f"\nPostgreSQL, {title}: recaption pass with one, then two caption and sink replicas", flush=True)
        render = run_pass(pipeline, "render", count, "caption", str(folder), "--wait")
        one = median_pass(pipeline, "recaption x1", count)
        pipeline.add("caption")
        pipeline.add("sink")
        time.sleep(5)  # the first replicas rejoin the group too
        two = median_pass(pipeline, "recaption x2", count)
        report([render, one, two], floor_rate, pipeline)
        print(f"two replicas / one: {two.rate / one.rate:.2f}x the clips/s, "
              f"{two.total_cpu_ms / one.total_cpu_ms:.2f}x the CPU per clip")
        ok &= render.ok and one.ok and two.ok
        pipeline.stop()  # now, so its processes take no CPU from the next case
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
