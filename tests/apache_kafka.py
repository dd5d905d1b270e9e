"""Apache Kafka for the test suite and `make chaos`: KRaft nodes (combined broker and controller) from the
Maven Central jars, started with plain `java -cp`, one node for the suite, three for broker faults.

The jars (org.apache.kafka:kafka_2.13 and an SLF4J 1.x binding, which 4.x needs to log anything) are
collected by Maven on first use into a cache outside the repository (MIRA_KAFKA_CACHE, default
~/.cache/mira/kafka-VERSION) and reused. `python -m tests.apache_kafka` fetches them and prints the version.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared import lifeline
from shared.broker import free_port, reachable

KAFKA_VERSION = "4.1.1"
SLF4J_BINDING = ("org.slf4j", "slf4j-simple", "1.7.36")  # Kafka 4.x is built on slf4j-api 1.7
# Sized for a 2-core machine: a small heap, the serial collector and the C1 compiler start a node in ~1 s.
JVM_OPTIONS = ["-Xmx512m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.awt.headless=true", "-Dorg.slf4j.simpleLogger.showDateTime=true"]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mira.tests</groupId><artifactId>apache-kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>{0}</groupId><artifactId>{1}</artifactId><version>{2}</version></dependency>
  </dependencies>
</project>
"""


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot run here; the message says why in one line."""


def cache_dir() -> Path:
    root = os.environ.get("MIRA_KAFKA_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "mira" / f"kafka-{KAFKA_VERSION}"


def jars() -> Path:
    """The folder of the broker's jars, collected by Maven the first time (a lock keeps two sessions from
    fetching into the same cache at once)."""
    home = cache_dir()
    lib = home / "lib"
    if (lib / ".complete").exists():
        return lib
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise KafkaUnavailable(f"Apache Kafka {KAFKA_VERSION} needs Java 17+ and Maven; `{tool}` is not on PATH")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (lib / ".complete").exists():
            return lib
        (home / "pom.xml").write_text(_POM.format(*SLF4J_BINDING, kafka=KAFKA_VERSION))
        partial = home / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        fetched = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
            capture_output=True, text=True, timeout=600, check=False)
        if fetched.returncode != 0:
            last = (fetched.stdout + fetched.stderr).strip().splitlines()[-1:] or ["no output"]
            raise KafkaUnavailable(f"Maven could not fetch Apache Kafka {KAFKA_VERSION}: {last[0]}")
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
        (lib / ".complete").touch()
    return lib


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    home: Path
    proc: subprocess.Popen[bytes] | None = None
    watchdog: subprocess.Popen[bytes] | None = None
    log_mark: int = 0  # where this start's lines begin in the log, so a restart waits for its own "started"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def started(self) -> bool:
        """Running, and this start has logged "Kafka Server started" (a restarted node: once it rejoined a quorum)."""
        return self.alive() and _logged_since(self, "Kafka Server started")


@dataclass
class KafkaCluster:
    """`nodes` combined broker+controller nodes on loopback. With three, topics default to replication
    factor 3 with min.insync.replicas 2 and no unclean leader election, as production runs."""

    home: Path
    nodes: int = 1
    config: dict[str, str] = field(default_factory=dict)
    members: list[Node] = field(init=False)
    _formatted: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.members = [Node(i, free_port(), free_port(), self.home / f"node-{i}") for i in range(1, self.nodes + 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.members)

    @property
    def replication(self) -> tuple[int, int]:
        """Replication factor and min.insync.replicas of this cluster's topics."""
        return (3, 2) if self.nodes >= 3 else (1, 1)

    def node(self, node_id: int) -> Node:
        return self.members[node_id - 1]

    def _properties(self, node: Node) -> str:
        rf, isr = self.replication
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.members)
        props = {
            "process.roles": "broker,controller", "node.id": str(node.node_id),
            "controller.quorum.voters": voters, "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}", "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.home / "data"),
            # The defaults are for big clusters: a 3 s wait before every first rebalance, 50 partitions each
            # for offsets and transactions, eight I/O threads.
            "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1", "num.network.threads": "2", "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1", "background.threads": "2", "log.cleaner.threads": "1",
            "offsets.topic.replication.factor": str(rf), "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(isr), "default.replication.factor": str(rf),
            "min.insync.replicas": str(isr), "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "false",
            # Slow machines: a node that lost its controller for a moment should not be fenced at once.
            "broker.session.timeout.ms": "9000", "initial.broker.registration.timeout.ms": "120000",
        }
        props.update(self.config)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def start(self, timeout_s: float = 90.0) -> str:
        """Start every node that is not running and wait until each says it started; the first time, format
        their log directories with one cluster id. Returns the bootstrap addresses."""
        if not self._formatted:
            self._format()
        stopped = [node for node in self.members if not node.alive()]
        for node in stopped:
            self.launch(node)
        self.wait_started(stopped, timeout_s)
        return self.bootstrap

    def _format(self) -> None:
        lib = jars()
        cluster_id = _java(lib, "kafka.tools.StorageTool", "random-uuid").strip().splitlines()[-1]
        for node in self.members:
            node.home.mkdir(parents=True, exist_ok=True)
            (node.home / "server.properties").write_text(self._properties(node))
            _java(lib, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.home / "server.properties"))
        self._formatted = True

    def launch(self, node: Node) -> None:
        """Start a node on its (already formatted) log directory: a first start or a restart alike."""
        command = ["java", *JVM_OPTIONS, "-cp", f"{jars()}/*", "kafka.Kafka", str(node.home / "server.properties")]
        node.log_mark = node.log.stat().st_size if node.log.exists() else 0
        with open(node.log, "ab") as log_file:
            node.proc = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=lifeline.killed_with_parent,  # noqa: PLW1509 - one prctl call, no locks taken
            )
        node.watchdog = lifeline.start_watchdog(node.proc.pid)

    def wait_started(self, nodes: list[Node], timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(nodes)
        while pending:
            for node in list(pending):
                if node.proc is not None and node.proc.poll() is not None:
                    raise KafkaUnavailable(f"Apache Kafka node {node.node_id} exited: {_why(node)}")
                if node.started() and reachable(node.address, 0.2):
                    pending.remove(node)
            if pending and time.monotonic() > deadline:
                raise KafkaUnavailable(f"Apache Kafka node(s) {[n.node_id for n in pending]} did not start within "
                                       f"{timeout_s:.0f} s; see {pending[0].log}")
            time.sleep(0.1)

    def kill(self, node_id: int) -> None:
        """SIGKILL a node, as a crashed pod; its log directory stays for `restart`."""
        node = self.node(node_id)
        if node.alive():
            assert node.proc is not None
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
        _end(node.watchdog)

    def restart(self, node_id: int, wait: bool = False) -> None:
        node = self.node(node_id)
        self.kill(node_id)
        self.launch(node)
        if wait:
            self.wait_started([node])

    def stop(self) -> None:
        for node in self.members:
            self.kill(node.node_id)

    def version(self) -> str:
        """The version the first node logged at start, e.g. '4.1.1'."""
        found = re.search(r"Kafka version: (\S+)", self.node(1).log.read_text(errors="replace"))
        return found.group(1) if found else KAFKA_VERSION


def _java(lib: Path, main: str, *args: str) -> str:
    done = subprocess.run(["java", *JVM_OPTIONS, "-cp", f"{lib}/*", main, *args],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise KafkaUnavailable(f"{main} {args[0] if args else ''} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return done.stdout


def _logged_since(node: Node, text: str) -> bool:
    if not node.log.exists():
        return False
    with open(node.log, "rb") as f:
        f.seek(node.log_mark)
        return text.encode() in f.read()


def _why(node: Node) -> str:
    """One line on why a node stopped: a port in use, or the last line it logged."""
    text = node.log.read_text(errors="replace") if node.log.exists() else ""
    if "Address already in use" in text:
        return f"a port it needs is taken ({node.port} or {node.controller_port})"
    lines = [line for line in text.splitlines() if "ERROR" in line or "Exception" in line] or text.splitlines()
    return lines[-1].strip()[:300] if lines else "no output"


def _end(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    try:
        print(f"Apache Kafka {KAFKA_VERSION} jars in {jars()}")
    except KafkaUnavailable as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
