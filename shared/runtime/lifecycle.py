"""Starting and stopping a service within bounds.

- A start-up step that fails for a reason that may pass (the broker or the database not reachable yet) is
  retried in-process with backoff and one log line per attempt, instead of crashing into a restart loop;
  a configuration error is not retried: the service exits 2 at once.
- Every start-up step gives way to a stop request, and every shutdown step gets at most the time left of
  the shutdown grace, so SIGTERM ends a service in time in every state (joining a group, broker gone).
- After a stop signal a watchdog thread ends the process if the event loop itself cannot (blocked by a
  stuck call, or a client that ignores cancellation).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import errors as kafka_errors
from pydantic import ValidationError

from shared.runtime.errors import Fatal

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors that retrying cannot fix: bad settings, certificates, credentials or permissions.
CONFIG_ERRORS: tuple[type[BaseException], ...] = (
    Fatal, ValueError, TypeError, FileNotFoundError, ssl.SSLError,
    kafka_errors.AuthenticationFailedError, kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.SaslAuthenticationFailed, kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.TopicAuthorizationFailedError, kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
)


class Stopped(Exception):
    """A stop was requested while waiting."""


def describe(exc: BaseException) -> str:
    """One line: a configuration error's own message, or the error type and message."""
    if isinstance(exc, Fatal):
        return exc.reason
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or exc.title
        return f"invalid {exc.title} setting {where}: {first['msg']}"
    name = type(exc).__name__
    text = " ".join(str(exc).split()).removeprefix(f"{name}: ")  # aiokafka's errors name themselves
    return f"{name}: {text}" if text else name


async def until_stopped(aw: Awaitable[T], stopping: asyncio.Event) -> T:
    """Await `aw`, or cancel it and raise Stopped as soon as `stopping` is set."""
    task = asyncio.ensure_future(aw)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not task.done():
        task.cancel()
        raise Stopped
    return task.result()


async def keep_trying(service: str, what: str, attempt: Callable[[], Awaitable[T]], stopping: asyncio.Event,
                      backoff: Callable[[int], float]) -> T:
    """`attempt()` until it succeeds; configuration errors propagate, a stop raises Stopped."""
    tries = 0
    while True:
        tries += 1
        try:
            return await until_stopped(attempt(), stopping)
        except Stopped:
            raise
        except CONFIG_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else may pass: a dependency not up yet
            delay = backoff(tries)
            log.warning("%s: cannot %s yet (attempt %d: %s); retrying in %.1fs", service, what, tries,
                        describe(exc), delay)
            await until_stopped(asyncio.sleep(delay), stopping)


async def within(aw: Awaitable[Any], timeout_s: float) -> str | None:
    """Run `aw` for at most `timeout_s`; None when it completed, else what went wrong. Never raises what
    `aw` raised (a client's stop() may even raise CancelledError), so one failed step never skips the next."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(timeout_s, 0.0))
    except asyncio.CancelledError:
        task.cancel()  # whoever waits gave up: so does the step
        raise
    if not done:
        task.cancel()
        return f"did not finish within {timeout_s:.1f}s"
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return None if exc is None else describe(exc)


def arm_watchdog(service: str, after_s: float, exit_code: int) -> None:
    """End the process after `after_s` unless it has exited by then (a daemon thread: exiting stops it)."""
    def expire() -> None:
        # Straight to the file descriptor: a stuck loop might hold the lock of a logging handler.
        os.write(2, f"{service}: did not stop within {after_s:.0f}s of the stop signal; exiting now\n".encode())
        os._exit(exit_code)

    timer = threading.Timer(after_s, expire)
    timer.daemon = True
    timer.start()
