"""Every byte FFmpeg reads comes through a reader of ours: a file-like object handed to av.open.

Each read checks one clip's deadline (MIRA_DECODE_TIMEOUT_S) and byte budget (MIRA_MAX_FILE_BYTES)
whatever stream the bytes belong to, so a stream that never delivers the next video frame (an endless
audio-only tail, a server trickling bytes) ends at its deadline instead of holding a decode worker.
Local files are opened once, after the source policy check, and checked again by what was opened (a
symlink swapped in after the check gains nothing); remote ones go through shared/video/remote.py.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from shared.runtime.errors import BadInput
from shared.sources.policy import SourcePolicy, SourceRefused


class Deadline:
    """A clip's wall-clock limit, counted from when its work began."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BadInput(f"decode exceeded {self.timeout_s:g} s (MIRA_DECODE_TIMEOUT_S)")


class ReadBudget(Deadline):
    """One clip's allowance: the deadline and a number of bytes, shared by all its readers."""

    def __init__(self, timeout_s: float, max_bytes: int) -> None:
        super().__init__(timeout_s)
        self.max_bytes, self.spent = max_bytes, 0

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.max_bytes:
            raise BadInput(f"read over {self.max_bytes} bytes of the source (MIRA_MAX_FILE_BYTES)")


def check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise BadInput("empty file (0 bytes)")
    if size > max_bytes:
        raise BadInput(f"file is {size} bytes, over the limit of {max_bytes} (MIRA_MAX_FILE_BYTES)")


class LocalReader:
    """A regular local file under the policy, read through the budget."""

    def __init__(self, source: str, policy: SourcePolicy, budget: ReadBudget) -> None:
        path = policy.local_path(source)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise BadInput(f"source not found: {source}") from None
        except OSError as e:
            raise BadInput(f"source cannot be opened ({e.strerror})") from None
        self.file = os.fdopen(fd, "rb", buffering=0)
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() else path
            if not policy.local_allowed(opened):  # a path component swapped for a symlink since the check
                raise SourceRefused()
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise BadInput("not a regular file")
            check_size(info.st_size, budget.max_bytes)
        except BaseException:
            self.file.close()
            raise
        self.name, self.budget = str(path), budget

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.budget.check_time()
        data = self.file.read(n) or b""
        self.budget.spend(len(data))
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()
