"""deploy/monitoring, offline: the PrometheusRule and the dashboard's ConfigMap render with kustomize and
validate strictly (the PrometheusRule against the Prometheus Operator's CRD schema, crds/), every PromQL
expression parses with Prometheus' grammar (promql-parser) and reads only metrics the code exports, the
alerts the operators asked for are there with a severity and text whose labels the expression keeps, and the
dashboard covers lag, throughput, in flight, 429s, spend, dead letters, suspect captions and dependencies."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import promql_parser
import pytest

from tests.deploy import code_facts
from tests.deploy.manifests import Obj, one, render
from tests.deploy.schemas import validate_object

MONITORING = code_facts.ROOT / "deploy" / "monitoring"
DASHBOARD = json.loads((MONITORING / "dashboard.json").read_text())
# Metrics whose code is on its way from other branches (issue 22: outages; issue 23: caption quality). Once
# the code exports one, test_pending_metrics_are_not_exported_yet fails: take it off this list.
ALERTS = {"MiraLagGrowing", "MiraDeadLettersRising", "MiraBudgetNearlySpent", "MiraDependencyDown",
          "MiraBrokerUnreachable", "MiraSuspectCaptionsHigh"}
DEFINITION = re.compile(r"\b(Counter|Gauge|Histogram|CounterMetricFamily|GaugeMetricFamily)\(\s*\"(mira_\w+)\"")


@pytest.fixture(scope="module")
def objs() -> list[Obj]:
    return render(MONITORING)


def exported() -> set[str]:
    """Every series name the code's metric definitions expose (a counter's _total, a histogram's parts)."""
    names = set()
    for top in ("shared", "services", "cli", "review"):
        for path in (code_facts.ROOT / top).rglob("*.py"):
            for kind, name in DEFINITION.findall(path.read_text()):
                if kind.startswith("Counter"):
                    names.add(f"{name}_total")
                elif kind == "Histogram":
                    names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                else:
                    names.add(name)
    return names


def rules(objs: list[Obj]) -> Iterator[dict[str, Any]]:
    for group in one(objs, "PrometheusRule", "mira")["spec"]["groups"]:
        yield from group["rules"]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def metrics_in(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr.replace("$namespace", "mira")), visit)
    return names


def test_every_object_validates_strictly(objs: list[Obj]) -> None:
    assert sorted(o["kind"] for o in objs) == ["ConfigMap", "PrometheusRule"]
    for obj in objs:
        validate_object(obj)
    config_map = one(objs, "ConfigMap", "mira-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"  # what Grafana's sidecar loads
    assert json.loads(config_map["data"]["dashboard.json"]) == DASHBOARD


def test_a_misplaced_rule_field_is_rejected(objs: list[Obj]) -> None:
    rule = copy.deepcopy(one(objs, "PrometheusRule", "mira"))
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "warning"  # belongs under labels
    with pytest.raises(jsonschema.ValidationError, match="severity"):
        validate_object(rule)


def test_every_expression_parses_and_reads_only_exported_metrics(objs: list[Obj]) -> None:
    exprs = [r["expr"] for r in rules(objs)] + dashboard_exprs()
    unknown = {name: expr for expr in exprs for name in metrics_in(expr) if name not in exported()}
    assert unknown == {}, "metrics no code exports (a renamed metric?)"


def test_a_broken_expression_is_caught() -> None:
    with pytest.raises(ValueError):
        metrics_in("sum(rate(mira_messages_total[5m])")


def test_the_asked_for_alerts_have_a_severity_and_say_what_to_do(objs: list[Obj]) -> None:
    alerts = {r["alert"]: r for r in rules(objs)}
    assert set(alerts) == ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert promql_parser.parse_duration(rule["for"]).total_seconds() >= 300, name  # no flapping pages
        kept = set(re.findall(r"by \(([^)]*)\)", rule["expr"])[0].replace(" ", "").split(","))
        used = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
        assert used <= kept, f"{name}: its text names labels {sorted(used - kept)} the expression drops"
    assert "[15m]" in alerts["MiraDeadLettersRising"]["expr"] and alerts["MiraLagGrowing"]["for"] == "15m"
    assert "> 0.8" in alerts["MiraBudgetNearlySpent"]["expr"]


def test_the_dashboard_covers_what_an_operator_watches() -> None:
    read = set().union(*map(metrics_in, dashboard_exprs()))
    wanted = {"mira_consumer_lag", "mira_messages_total", "mira_in_flight", "mira_caption_rate_limited_total",
              "mira_caption_cost_usd_total", "mira_budget_spent_usd", "mira_budget_usd",
              "mira_caption_suspect_rules_total", "mira_caption_quality_total", "mira_dependency_up",
              "mira_broker_reachable"}
    assert wanted <= read
    assert {t["datasource"]["uid"] for p in DASHBOARD["panels"] for t in p.get("targets", [])} == {"${datasource}"}
    assert all('namespace="$namespace"' in expr for expr in dashboard_exprs())
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
