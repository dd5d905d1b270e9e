"""A cluster that moves things around or loses one broker of several reads as one line per episode, not one
per client retry, and a lost broker still makes the broker watch check whether the whole cluster is gone."""

from __future__ import annotations

import logging

import pytest

from shared.runtime.brokerwatch import BrokerWatch


def _client_line(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.client", level, __file__, 1, message, None, None)


@pytest.mark.parametrize("message", [
    "Unable connect to node with id 2: [Errno 111] Connect call failed ('127.0.0.1', 39093)",
    "Got error produce response: NotEnoughReplicasError",
    ("Got error produce response on topic-partition TopicPartition(topic='t.clips', partition=1), retrying. "
     "Error: NotLeaderForPartitionError"),
])
def test_a_client_retrying_through_a_cluster_episode_writes_one_line_not_hundreds(
        message: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    watch = BrokerWatch("caption", on_change=lambda: None)
    watch.connected()
    passed = [watch.filter(_client_line(message)) for _ in range(300)]
    assert not any(passed)  # every client line held back
    ours = [r.getMessage() for r in caplog.records if r.name == "shared.runtime.clustermoves"]
    assert len(ours) == 1 and "the client retries by itself" in ours[0] and message in ours[0]


def test_a_broker_that_does_not_answer_makes_the_watch_check_the_cluster() -> None:
    watch = BrokerWatch("caption", on_change=lambda: None)
    watch.connected()
    watch.filter(_client_line("Unable connect to node with id 1: [Errno 111] Connect call failed"))
    assert watch._suspect.is_set()  # whether all brokers are gone is the watch's check


def test_ordinary_client_warnings_still_pass() -> None:
    watch = BrokerWatch("caption", on_change=lambda: None)
    watch.connected()
    assert watch.filter(_client_line("Heartbeat failed for group mira-caption: unexpected error", logging.WARNING))
