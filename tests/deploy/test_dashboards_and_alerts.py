"""Grafana dashboards and Prometheus alert rules: well-formed, parseable PromQL, selecting
event types and services that exist. (Whether each metric is exported is checked against a
live scrape in tests/integration/test_deploy_metrics.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from observability_queries import (
    ALERT_RULES,
    DASHBOARDS_DIR,
    EXTERNAL_METRICS,
    Query,
    alert_rules,
    all_queries,
    dashboard_files,
    queried_metrics,
    selectors,
)
from write_prometheusrule import render

from nodebyte_common.events import CATALOGUE
from nodebyte_devstack.config import SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_RULE = REPO_ROOT / "deploy/k8s/components/monitoring/prometheusrule.yaml"
AREAS = {"services", "events", "sync", "hytale", "nodes", "notifier", "scheduler"}

QUERIES = all_queries()


def test_there_is_a_dashboard_for_each_area() -> None:
    assert {p.stem for p in dashboard_files()} >= AREAS


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_each_dashboard_is_well_formed(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == f"nodebyte-{path.stem}"
    assert "nodebyte" in dashboard["tags"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} queries nothing"
        for target in panel["targets"]:
            # The data source is a variable, so the same JSON works in compose and in k8s.
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_dashboard_is_shipped_to_kubernetes() -> None:
    kustomization = yaml.safe_load((DASHBOARDS_DIR / "kustomization.yaml").read_text())
    shipped = {f for entry in kustomization["configMapGenerator"] for f in entry["files"]}
    assert shipped == {p.name for p in dashboard_files()}


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.where)
def test_each_query_is_valid_promql(query: Query) -> None:
    assert selectors(query.expr), f"{query.where} selects no metric"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.where)
def test_each_query_selects_event_types_and_services_that_exist(query: Query) -> None:
    """A typo in `type="sync.completd"` or `service="hytale_auth"` draws an empty panel."""
    known = {"type": set(CATALOGUE), "service": set(SERVICES)}
    for selector in selectors(query.expr):
        for label, op, value in selector.matchers:
            if label not in known or "$" in value:
                continue
            if op == "=":
                assert value in known[label], f"{query.where}: no {label} {value!r}"
            elif op == "=~":
                pattern = re.compile(value)
                assert any(pattern.fullmatch(v) for v in known[label]), (
                    f"{query.where}: {label}=~{value!r} matches nothing"
                )


def test_queries_use_the_external_metrics_they_declare() -> None:
    queried = queried_metrics(QUERIES)
    stale = set(EXTERNAL_METRICS) - set(queried)
    assert not stale, f"EXTERNAL_METRICS lists metrics no query uses: {sorted(stale)}"


def test_an_unknown_metric_in_a_dashboard_is_reported() -> None:
    probe = Query("probe", 'sum(rate(nodebyte_not_a_metric_total{type="sync.failed"}[5m]))')
    assert queried_metrics([probe]) == {"nodebyte_not_a_metric_total": ["probe"]}


# --- alert rules -----------------------------------------------------------------------


def test_each_alert_rule_is_complete() -> None:
    rules = [r for r in alert_rules() if "alert" in r]
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_the_obvious_failures_have_alerts() -> None:
    expressions = {r["alert"]: r["expr"] for r in alert_rules() if "alert" in r}
    wanted = {
        "NodebyteOutboxBacklogGrowing": "nodebyte_outbox_backlog",
        "NodebyteOutboxStalled": "nodebyte_outbox_oldest_age_seconds",
        "NodebyteDeadLetterQueueNotEmpty": "rabbitmq_queue_messages",
        "NodebyteSchedulerLeaderMissing": 'service="scheduler"',
        "NodebyteNodeOffline": "nodebyte_node_containers",
        "NodebyteQueueGrowing": "rabbitmq_queue_messages_ready",
        "NodebyteQueueWithoutConsumer": "rabbitmq_queue_consumers",
        "NodebyteGatewayAvailabilityBudgetBurningFast": "nodebyte:gateway_errors:ratio_rate5m",
        "NodebyteGatewayLatencyBudgetBurningFast": "nodebyte:gateway_slow:ratio_rate5m",
        "NodebyteSyncFailing": "sync.failed",
        "NodebyteServiceDown": "up",
    }
    for alert, needle in wanted.items():
        assert needle in expressions[alert], alert


def test_kubernetes_gets_the_same_rules() -> None:
    """deploy/k8s/components/monitoring/prometheusrule.yaml is written from alerts.yaml by
    `make deploy-rules`."""
    assert PROMETHEUS_RULE.read_text() == render(), "run `make deploy-rules`"
    wrapped = yaml.safe_load(PROMETHEUS_RULE.read_text())["spec"]["groups"]
    assert wrapped == yaml.safe_load(ALERT_RULES.read_text())["groups"]
