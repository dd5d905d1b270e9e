"""Caption throughput under a rate limit: `python -m tests.bench.caption` (make bench-caption).

Starts the fake OpenAI server in its own process with 2 s latency and a 300 requests/minute limit
(enforced per second, as OpenAI does), then captions 600 clips at once through the real Captioner,
rate limiter and openai SDK, as a caption consumer with many messages in flight would. Prints the
achieved requests/minute as a fraction of the limit (target >= 0.9), the share of requests answered 429
(target < 5%), p50/p95 request latency, and clips lost (must be 0). Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx2
import openai
from PIL import Image

from services.caption.captioner import Captioner
from services.caption.ratelimit import caption_client
from services.caption.settings import CaptionSettings


@dataclass
class Wire:
    """Every HTTP exchange as the client saw it: (status, seconds, answered at)."""

    started: dict[int, float] = field(default_factory=dict)
    seen: list[tuple[int, float, float]] = field(default_factory=list)

    async def on_request(self, request: httpx2.Request) -> None:
        self.started[id(request)] = time.monotonic()

    async def on_response(self, response: httpx2.Response) -> None:
        now = time.monotonic()
        self.seen.append((response.status_code, now - self.started.pop(id(response.request), now), now))


def grids(count: int) -> list[bytes]:
    out = []
    for i in range(count):
        buf = io.BytesIO()
        Image.new("RGB", (1536, 432), (i * 37 % 256, i * 91 % 256, 120)).save(buf, "JPEG", quality=80)
        out.append(buf.getvalue())
    return out


def start_server(latency: float = 0.0, rpm: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI server in its own process (no rate limit without `rpm`) and its base URL."""
    limit = [] if rpm is None else ["--rpm", str(rpm)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--latency", str(latency), *limit],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, line.removeprefix("listening on ").strip()


async def run(clips: int, rpm: int, base_url: str) -> dict[str, float]:
    # The account's token limit is not what this bench measures: give it room.
    settings = CaptionSettings(
        openai_base_url=base_url,
        openai_api_key="sk-bench",
        caption_rpm=rpm,
        caption_tpm=50_000_000,
        caption_max_retries=10,
    )
    wire = Wire()
    http = openai.DefaultAsyncHttpxClient(
        event_hooks={"request": [wire.on_request], "response": [wire.on_response]}
    )
    cap = Captioner(settings, client=caption_client(settings, http))
    images = grids(16)
    started = time.monotonic()
    results = await asyncio.gather(
        *[cap.caption(images[i % 16], 1536, 432, f"clip {i} of the bench") for i in range(clips)],
        return_exceptions=True,
    )
    await cap.aclose()
    ok = [s for s in wire.seen if s[0] == 200]
    window = max(t for _, _, t in ok) - started
    latencies = sorted(d for _, d, _ in ok)
    return {
        "clips": clips,
        "success": sum(1 for r in results if not isinstance(r, BaseException) and r.status == "success"),
        "requests": len(wire.seen),
        "rate_limited": sum(1 for s in wire.seen if s[0] == 429),
        "wall_s": window,
        "rpm": len(ok) / window * 60,
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
        "peak_in_flight_bound": cap.limiter.suggested_in_flight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--rpm", type=int, default=300)
    args = parser.parse_args()
    proc, base_url = start_server(args.latency, args.rpm)
    try:
        r = asyncio.run(run(args.clips, args.rpm, base_url))
    finally:
        proc.terminate()
        proc.wait(10)
    fraction, share, lost = r["rpm"] / args.rpm, r["rate_limited"] / r["requests"], r["clips"] - r["success"]
    print(f"caption bench: {args.clips} clips, server latency {args.latency:.1f} s, limit {args.rpm} req/min")
    print(f"  wall time               {r['wall_s']:8.1f} s")
    print(f"  achieved requests/min   {r['rpm']:8.1f}  = {fraction:.3f} of the limit (target >= 0.9)")
    print(
        f"  answered 429            {int(r['rate_limited']):8d}  = {share:.2%} of {int(r['requests'])} "
        "requests (target < 5%)"
    )
    print(f"  request latency p50/p95 {r['p50_s']:8.2f} / {r['p95_s']:.2f} s")
    print(f"  in-flight bound         {int(r['peak_in_flight_bound']):8d}")
    print(f"  clips lost              {lost:8d}  (must be 0)")
    missed = [
        name for name, bad in [("rpm", fraction < 0.9), ("429s", share >= 0.05), ("lost", lost > 0)] if bad
    ]
    print("  result: " + ("all targets met" if not missed else f"MISSED {', '.join(missed)}"))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
