"""How fast the `mira` command answers: `python -m tests.bench.cli` (make bench-cli).

Times, in one run and against a bare `python -c pass` measured alongside (the floor every command pays):
- `mira --help` and `mira status` with no pipeline running (targets: under 0.3 s each);
- `mira caption one.mp4 --wait` with no pipeline running, so it starts the embedded broker and services,
  against the local OpenAI-compatible server with no added latency (target: under 4 s end to end).
Each is run several times in fresh processes; the median wall time is reported, with the minimum and the
CPU time the whole machine spent meanwhile (user + system, from /proc/stat: the embedded pipeline's services
are forked by a fork server, so they are not this process's children to count): on a busy machine wall time
follows the load, CPU time much less. Run it on a quiet machine. Exits 1 when a median wall time misses its
target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fake_openai.server import FakeOpenAI
from tests.media.videos import make_video

TARGETS = {"mira --help": 0.3, "mira status": 0.3, "mira caption one.mp4 --wait": 4.0}


def machine_cpu() -> float:
    """CPU seconds every process on this machine has used since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:8]
    busy = sum(int(f) for i, f in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[tuple[float, float]]:
    """(wall seconds, CPU seconds) of each run."""
    times = []
    for _ in range(runs):
        cpu, began = machine_cpu(), time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - began, machine_cpu() - cpu))
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each quick command (caption: half)")
    args = parser.parse_args()
    mira = [sys.executable, "-m", "cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = make_video(root / "one.mp4", codec="h264", seconds=2, fps=12, width=160, height=96)
        fake = FakeOpenAI()
        fake.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
        env.update(MIRA_HOME=str(root / "home"), OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-bench")
        try:
            results = {
                "python -c pass": timed([sys.executable, "-c", "pass"], env, args.runs),
                "mira --help": timed([*mira, "--help"], env, args.runs),
                "mira status": timed([*mira, "status"], env, args.runs),
            }
            caption = []
            for i in range(max(1, args.runs // 2)):  # a fresh MIRA_HOME each time: nothing recorded yet
                caption += timed([*mira, "caption", str(clip), "--wait"], {**env, "MIRA_HOME": str(root / f"c{i}")}, 1)
            results["mira caption one.mp4 --wait"] = caption
        finally:
            fake.stop()
    floor = statistics.median(wall for wall, _ in results["python -c pass"])
    print(f"{'command':<30} {'median s':>9} {'min s':>7} {'minus python':>13} {'CPU s':>7} {'target s':>9}")
    missed = False
    for name, runs in results.items():
        median = statistics.median(wall for wall, _ in runs)
        target = TARGETS.get(name)
        missed |= target is not None and median > target
        print(f"{name:<30} {median:>9.3f} {min(wall for wall, _ in runs):>7.3f} {median - floor:>13.3f} "
              f"{statistics.median(cpu for _, cpu in runs):>7.2f} {target if target is not None else '':>9}")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
