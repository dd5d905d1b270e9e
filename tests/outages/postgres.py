"""A PostgreSQL server of the test's own (initdb and pg_ctl from the local installation), which the test may
stop and start again on the same port: the shared development server must never be stopped.

The server runs as the `postgres` user (it refuses to run as root), from a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Self

import pytest

from tests.store.databases import in_ci

BIN = Path(os.environ.get("MIRA_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


class OwnPostgres:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            reason = f"no PostgreSQL server binaries in {BIN} (set MIRA_TEST_POSTGRES_BIN)"
            if in_ci():
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        self.folder = Path(tempfile.mkdtemp(prefix="mira-own-pg-"))
        self.data = self.folder / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [*(["runuser", "-u", "postgres", "--"] if self._as_root else []), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> Self:
        if self._as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "start")

    def stop(self) -> None:
        """As a failover or a restart does: sessions end with an admin shutdown, new ones are refused."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w")
