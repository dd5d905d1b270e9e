"""The fake server's call log: for every chat completion, which question it asked and whether the answer
got out to the caller.

A question is identified by a hash of the model, the prompt text and the image bytes, so the same
question asked again (a redelivery, a second replica) has the same id. `returned` is True only once the
whole response was written to the connection: a caller killed while the model was answering never got
it, which is the one case where paying again for the same question cannot be avoided. With
`Faults.track_callers` each call also names the pid of the local process that made it (read from /proc), so
a harness that kills processes can tell an answer that died with its caller from one that was dropped.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

Kind = Literal["caption", "hint"]


@dataclass
class Call:
    question: str
    kind: Kind
    status: int = 0  # 0 until the server decided (a 429, an error, or 200: a paid answer)
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    returned: bool = False
    caller: int | None = None  # pid of the calling process (Faults.track_callers)

    @property
    def paid(self) -> bool:
        return self.status == 200

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def question_of(body: dict[str, Any]) -> str:
    """sha256 over the model, every text part and every image URL, in message order."""
    h = hashlib.sha256(str(body.get("model", "")).encode())
    for message in body.get("messages", []):
        content = message.get("content")
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for part in parts:
            if part.get("type") == "text":
                h.update(b"\x1ftext\x1f" + str(part.get("text", "")).encode())
            elif part.get("type") == "image_url":
                h.update(b"\x1fimage\x1f" + str(part["image_url"].get("url", "")).encode())
    return h.hexdigest()


async def deliver(request: web.Request, response: web.StreamResponse, call: Call) -> web.StreamResponse:
    """Write the whole response now, so the call log knows whether the caller received it."""
    try:
        await response.prepare(request)
        await response.write_eof()
        call.returned = True
    except ConnectionError:
        pass  # the caller is gone (killed while waiting): aiohttp closes the connection
    finally:
        call.finished = time.time()
    return response


def repeats(calls: Iterable[Call], died: Callable[[Call], bool] = lambda call: False) -> tuple[int, int]:
    """Second and later payments for one question, split by what became of the earlier ones: (some earlier
    payment's answer was returned to a caller that did not then die, so paying again was avoidable; every
    earlier caller died, `died` telling which returned answers died with their caller before use)."""
    by_question: dict[str, list[Call]] = {}
    for call in sorted((c for c in calls if c.paid), key=lambda c: c.started):
        by_question.setdefault(call.question, []).append(call)
    avoidable = unavoidable = 0
    for paid in by_question.values():
        for i in range(1, len(paid)):
            if any(e.returned and not died(e) for e in paid[:i]):
                avoidable += 1
            else:
                unavoidable += 1
    return avoidable, unavoidable


class Callers:
    """Which local process owns a client connection: its socket's inode from /proc/net/tcp, then the
    process holding that inode among /proc/*/fd. Linux only; None when it cannot be told."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: dict[str, int] = {}  # socket inode -> pid (an inode is not reused while it is open)

    def pid_of(self, client_port: int, server_port: int) -> int | None:
        inode = _inode(client_port, server_port)
        if inode is None:
            return None
        with self._lock:
            if inode not in self._pids:
                pid = _holder(inode)
                if pid is None:
                    return None
                self._pids[inode] = pid
            return self._pids[inode]


def _inode(client_port: int, server_port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
            if int(local, 16) == client_port and int(remote, 16) == server_port:
                return fields[9]
    return None


def _holder(inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                return int(pid)
        except OSError:
            continue  # gone, or not ours to read
    return None
