"""A throwaway PostgreSQL server for the tests and benchmarks: initdb into a temporary folder (trust auth,
loopback only, a free port), started with pg_ctl and stopped at the end, as the `postgres` user when this
runs as root (PostgreSQL refuses to run as root). Debian's `postgresql` package gives the binaries.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from shared.broker import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why in one line."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)")


class PostgresServer:
    def __init__(self, options: str = "") -> None:
        """`options`: more server settings (`-c name=value ...`), after and so over the defaults below."""
        self.bin = _bin_dir()
        self.options = options
        self.root = Path(tempfile.mkdtemp(prefix="mira-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def start(self) -> str:
        if self._as_root:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.launch()
        return self.url

    def launch(self) -> None:
        """Start (or start again, on the same data) and wait until it takes connections."""
        # fsync off: a test database need not survive a power cut, and fsync is most of a commit's time.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   f"-c shared_buffers=64MB {self.options}")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start", timeout=90)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2", timeout=10)
                return
            except PostgresUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode `immediate` is a crash); the data stays for `launch`."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
