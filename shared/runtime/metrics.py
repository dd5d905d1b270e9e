"""Prometheus metrics every service exposes on /metrics, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RuntimeMetrics:
    def __init__(self, stage: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["stage"]
        self.messages = Counter(
            "mira_messages", "Messages finished, by outcome (ok, dead_letter)", [*labels, "outcome"],
            registry=self.registry,
        )
        self.retries = Counter("mira_retries", "Retryable failures", labels, registry=self.registry)
        self.published = Counter("mira_published", "Messages published", [*labels, "topic"],
                                 registry=self.registry)
        self.in_flight = Gauge("mira_in_flight", "Messages being handled", labels, registry=self.registry)
        self.lag = Gauge("mira_consumer_lag", "Messages not yet consumed", [*labels, "partition"],
                         registry=self.registry)
        self.seconds = Histogram(
            "mira_handle_seconds", "Time to handle one message",
            labels, registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )
        self.partitions = Gauge("mira_partitions_assigned", "Partitions this member owns", labels,
                                registry=self.registry)
        self.rebalances = Counter("mira_partitions_revoked", "Partitions given back in rebalances", labels,
                                  registry=self.registry)
        self.abandoned = Counter("mira_abandoned", "Messages left unfinished and uncommitted when their "
                                 "partition was revoked or the service stopped", labels, registry=self.registry)
        self.commit_failures = Counter("mira_commit_failures", "Commits the broker did not take", labels,
                                       registry=self.registry)
        self.broker_reachable = Gauge("mira_broker_reachable", "1 while the broker answers", labels,
                                      registry=self.registry)
        self.dependency_up = Gauge("mira_dependency_up", "1 while the dependency answers, 0 during an outage",
                                   [*labels, "dependency"], registry=self.registry)
        self.stage = stage

    def assigned(self, partitions: int) -> None:
        self.partitions.labels(self.stage).set(partitions)

    def revoked(self, partitions: int, abandoned: int) -> None:
        self.partitions.labels(self.stage).set(0)
        self.rebalances.labels(self.stage).inc(partitions)
        self.abandoned.labels(self.stage).inc(abandoned)

    def finished(self, outcome: str, seconds: float) -> None:
        self.messages.labels(self.stage, outcome).inc()
        self.seconds.labels(self.stage).observe(seconds)
