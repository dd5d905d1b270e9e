"""A bad setting stops every command before anything starts: exit status 2 within seconds, one line on
stderr naming the variable, its value and what is allowed, no traceback, and no process left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli.conftest import mira, processes_of

CASES = [
    (("caption", "{clip}", "--wait"), "MIRA_SAMPLE_MODE", "weird", "'auto', 'exact' or 'keyframe'"),
    (("caption", "{clip}", "--wait"), "MIRA_DATABASE_URL", "garbage", "sqlite:///PATH or postgresql://"),
    (("up",), "MIRA_CAPTION_RPM", "0", "greater than or equal to 1"),
    (("up",), "MIRA_TOPIC_MIN_INSYNC_REPLICAS", "2", "exceeds MIRA_TOPIC_REPLICATION_FACTOR (1)"),
    (("run", "framegrid"), "MIRA_DECODE_WORKERS", "many", "valid integer"),
    (("grid", "{clip}", "-o", "g.jpg"), "MIRA_SAMPLE_MODE", "weird", "'auto', 'exact' or 'keyframe'"),
    (("status",), "MIRA_DATABASE_URL", "garbage", "sqlite:///PATH or postgresql://"),
    (("export", "--format", "csv", "-o", "x.csv"), "MIRA_LOG_LEVEL", "loud", "'DEBUG', 'INFO'"),
]


@pytest.mark.parametrize(("argv", "name", "value", "allowed"), CASES, ids=lambda c: c if isinstance(c, str) else c[0])
def test_bad_setting_exits_2_with_one_line(mira_env: dict[str, str], clip: Path, argv: tuple[str, ...], name: str,
                                           value: str, allowed: str) -> None:
    env = {**mira_env, name: value}
    began = time.monotonic()
    done = mira(env, *(a.format(clip=clip) for a in argv), timeout=60)
    took = time.monotonic() - began
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert name in lines[0] and value.upper() in lines[0].upper() and allowed in lines[0]
    assert took < 30  # seconds, not a restart loop (generous: the machine may be busy)
    assert processes_of(env["MIRA_HOME"]) == {}
    assert not (Path(env["MIRA_HOME"]) / "pipeline.json").exists()

