"""However `mira up` or `mira caption --wait` is stopped, nothing it started outlives it: SIGTERM stops it
cleanly (no traceback, no unclosed Kafka client), and after SIGKILL the services and the embedded broker
notice their owner is gone and end within seconds."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.conftest import mira, processes_of, start_mira, wait_for_text, wait_until_none_left
from tests.fake_openai.server import FakeOpenAI


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "Ctrl-C", "SIGKILL"])
def test_caption_leaves_nothing_running(mira_env: dict[str, str], fake_openai: FakeOpenAI, clip: Path,
                                        tmp_path: Path, sig: signal.Signals) -> None:
    fake_openai.configure(latency_s=60)  # SIGTERM: the clip is with the model when the signal comes
    log = tmp_path / "caption.log"
    proc = start_mira(mira_env, "caption", str(clip), "--wait", log=log)
    # The others come while the services are still starting: no state may leave one behind.
    wait_for_text(log, "hints 1" if sig == signal.SIGTERM else "submitted 1 clip", proc)
    assert len(processes_of(mira_env["MIRA_HOME"])) >= 8  # the command, the broker, its watchdog, 5 services
    proc.send_signal(sig)
    code = proc.wait(60)
    assert wait_until_none_left(mira_env["MIRA_HOME"], timeout_s=10) == {}
    if sig != signal.SIGKILL:
        output = log.read_text()
        assert code == 128 + sig, output
        assert "Traceback" not in output and "Unclosed" not in output, output
        assert not (Path(mira_env["MIRA_HOME"]) / "pipeline.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_up_leaves_nothing_running(mira_env: dict[str, str], tmp_path: Path, sig: signal.Signals) -> None:
    log = tmp_path / "up.log"
    proc = start_mira(mira_env, "up", log=log)
    wait_for_text(log, "caption consuming", proc)
    services = json.loads((Path(mira_env["MIRA_HOME"]) / "pipeline.json").read_text())["services"]
    names = {Path(f"/proc/{s['pid']}/comm").read_text().strip() for s in services.values()}
    assert names == {f"mira-{name}" for name in services}  # `ps` and `top` tell the services apart
    if sig == signal.SIGTERM:  # each service bound a port of its own choosing and said which
        ports = _health_ports(Path(mira_env["MIRA_HOME"]))
        assert set(ports) == set(services) and len(set(ports.values())) == len(ports), ports
        for name, port in ports.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                assert reply.status == 200, name
    if sig == signal.SIGTERM:  # while it runs, `mira status` finds it and lines its table up
        status = mira(mira_env, "status")
        table = status.stdout.splitlines()[1:9]
        assert table[0].split() == ["stage", "consumes", "published", "done", "lag"], status.stdout
        assert len({len(line) for line in table}) == 1, status.stdout  # numbers right-aligned under "lag"
        assert [row.split()[0] for row in table[1:]] == ["ingest", "split", "framegrid", "hint", "caption", "sink",
                                                         "recaption"]
    proc.send_signal(sig)
    code = proc.wait(60)
    assert wait_until_none_left(mira_env["MIRA_HOME"], timeout_s=10) == {}
    if sig == signal.SIGTERM:
        output = log.read_text()
        assert code == 0 and "Traceback" not in output and "Unclosed" not in output, output


def _health_ports(home: Path, timeout_s: float = 10) -> dict[str, int]:
    """The health port of every service, from pipeline.json, once each has reported the one it bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        services = json.loads((home / "pipeline.json").read_text())["services"]
        if all(s["health_port"] for s in services.values()) or time.monotonic() > deadline:
            return {name: s["health_port"] for name, s in services.items()}
        time.sleep(0.1)


def test_a_stale_pipeline_file_is_noticed_and_removed(mira_env: dict[str, str], tmp_path: Path) -> None:
    home = Path(mira_env["MIRA_HOME"])
    home.mkdir(parents=True)
    (home / "pipeline.json").write_text('{"bootstrap": "127.0.0.1:9", "pid": 999999999, "services": {}}')
    done = mira(mira_env, "status", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "stale" in done.stderr and "no pipeline is running" in done.stdout
    assert not (home / "pipeline.json").exists()
