"""Run the fake OpenAI server in its own process: `python -m tests.fake_openai --port N [--latency S]`.

Prints `listening on <base_url>` once ready; faults can be changed later with POST /admin/faults.
"""

from __future__ import annotations

import argparse
import signal
import threading

from tests.fake_openai.server import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute before 429")
    parser.add_argument("--mode", default="ok", help="fault applied to every request (see faults.py)")
    parser.add_argument("--no-json-schema", action="store_true", help="answer 400 to json_schema")
    parser.add_argument("--api-key", default=None, help="only this bearer token is accepted")
    args = parser.parse_args()
    fake = FakeOpenAI(args.host, args.port, latency_s=args.latency, rpm=args.rpm, tpm=args.tpm,
                      mode=args.mode, json_schema=not args.no_json_schema, api_key=args.api_key)
    print(f"listening on {fake.start()}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
