"""Ctrl-C and SIGTERM end a command cleanly: the command's coroutine is cancelled, so its `finally` blocks
stop what it started (the embedded pipeline, Kafka clients), and the command exits with 128 + the signal
number and one line instead of a traceback. A second signal while cleaning up is ignored; the services
end with this process anyway (shared.lifeline)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(_cancel_on_signal(main))


async def _cancel_on_signal(main: Coroutine[Any, Any, int]) -> int:
    task = asyncio.current_task()
    assert task is not None
    received: list[signal.Signals] = []

    def cancel(sig: signal.Signals) -> None:
        if not received:
            print(f"\nmira: {sig.name} received: stopping", file=sys.stderr)
            task.cancel()
        received.append(sig)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, cancel, sig)
    try:
        return await main
    except asyncio.CancelledError:
        if not received:
            raise
        return 128 + received[0].value
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
