"""What the caption stage adds to /metrics for operators: money spent per model, 429 answers of the model
endpoint, and the budget with what has been spent against it (deploy/monitoring alerts at 80%)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared.messages import Usage


class CaptionMetrics:
    def __init__(self, registry: CollectorRegistry, captioner: Any) -> None:
        self.cost = Counter("mira_caption_cost_usd", "USD paid for caption model calls, by model", ["model"],
                            registry=registry)
        registry.register(_Readings(getattr(captioner, "live", captioner)))  # a batch captioner's live one

    def paid(self, model: str, usage: Usage) -> None:
        if usage.cost_usd:
            self.cost.labels(model).inc(usage.cost_usd)


class _Readings:
    """Read at every scrape from the captioner's own state: its rate limiter and its budget gate."""

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner

    def describe(self) -> list[Metric]:
        return []  # not read at registration: the budget file may not be there yet

    def collect(self) -> Iterator[Metric]:
        limiter = getattr(self.captioner, "limiter", None)
        if limiter is not None:
            yield CounterMetricFamily("mira_caption_rate_limited", "429 answers of the caption model endpoint",
                                      value=limiter.stats.rate_limited)
        budget = getattr(self.captioner, "budget", None)
        if budget is None:
            return
        yield GaugeMetricFamily("mira_budget_spent_usd", "USD settled against the budget by every caption "
                                "replica, as this one last saw the shared tally", value=budget.spent_usd)
        limit = budget.limit_usd
        if limit is not None:
            yield GaugeMetricFamily("mira_budget_usd", "The caption budget (MIRA_BUDGET_USD or MIRA_BUDGET_FILE)",
                                    value=limit)
