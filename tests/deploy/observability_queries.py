"""What the dashboards and alert rules query, and what a /metrics page exports.

Shared by the offline checks here and by tests/integration/test_deploy_metrics.py, which
compares the queried metric names with a live scrape of every service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "deploy" / "grafana"
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"

# Metrics queried that no NodeByte service exports, and who does.
EXTERNAL_METRICS: dict[str, str] = {
    "up": "Prometheus itself, one series per scrape target",
    "rabbitmq_queue_messages": "RabbitMQ's rabbitmq_prometheus plugin, per queue when "
    "prometheus.return_per_object_metrics = true (compose and the prod RabbitmqCluster set it)",
    "rabbitmq_queue_messages_ready": "RabbitMQ's rabbitmq_prometheus plugin, per queue",
    "rabbitmq_queue_consumers": "RabbitMQ's rabbitmq_prometheus plugin, per queue",
}

# Grafana's macros are not PromQL: replace them by a value of the same kind before parsing.
_GRAFANA_DURATIONS = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
)


@dataclass(frozen=True)
class Query:
    where: str  # "dashboard sync.json, panel 'Runs per hour'" or "alert NodebyteSyncFailing"
    expr: str


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value); op in = != =~ !~


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def dashboard_queries(path: Path) -> Iterator[Query]:
    dashboard = json.loads(path.read_text())
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield Query(f"dashboard {path.name}, panel {panel.get('title')!r}", target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else None
        if variable.get("type") == "query" and text:
            yield Query(f"dashboard {path.name}, variable {variable['name']}", _label_values(text))


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _label_values(text: str) -> str:
    """`label_values(metric{...}, label)` queries the selector inside: keep that part."""
    match = re.fullmatch(r"\s*label_values\((.+),\s*\w+\s*\)\s*", text)
    return match.group(1) if match else text


def alert_rules(path: Path = ALERT_RULES) -> list[dict]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_queries() -> Iterator[Query]:
    for rule in alert_rules():
        name = rule.get("alert") or rule.get("record")
        yield Query(f"alert {name}", rule["expr"])


def all_queries() -> list[Query]:
    queries = [q for path in dashboard_files() for q in dashboard_queries(path)]
    return queries + list(alert_queries())


def parse(expr: str) -> promql_parser.Expr:
    return promql_parser.parse(_GRAFANA_DURATIONS.sub("5m", expr))


def selectors(expr: str) -> list[Selector]:
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple(
                (m.name, _OPS[str(m.op).rsplit(".", 1)[-1]], m.value)
                for m in node.matchers.matchers
                if m.name != "__name__"
            )
            name = node.name or next(
                (m.value for m in node.matchers.matchers if m.name == "__name__"), ""
            )
            found.append(Selector(name, matchers))

    promql_parser.walk(parse(expr), visit)
    return found


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def recorded_metrics() -> set[str]:
    """Series the rule file's recording rules make (Prometheus writes them, no service)."""
    return {rule["record"] for rule in alert_rules() if "record" in rule}


def queried_metrics(queries: list[Query] | None = None) -> dict[str, list[str]]:
    """Each exported metric name a query selects (not a recorded one), with where."""
    found: dict[str, list[str]] = {}
    recorded = recorded_metrics()
    for query in all_queries() if queries is None else queries:
        for selector in selectors(query.expr):
            if selector.metric not in recorded:
                found.setdefault(selector.metric, []).append(query.where)
    return found


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_metric_names(metrics_text: str) -> set[str]:
    """The series names a /metrics page declares, also for families with no sample yet
    (a labelled counter nothing has incremented still has its HELP and TYPE lines)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
