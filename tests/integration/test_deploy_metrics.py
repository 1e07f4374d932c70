"""Every metric a Grafana dashboard or an alert rule queries is one the running services
export (or one of the few, listed, that Prometheus or RabbitMQ export)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
from prometheus_client.parser import text_string_to_metric_families

from nodebyte_common.topology import SUBSCRIPTIONS
from nodebyte_devstack.config import SERVICES
from nodebyte_devstack.processes import Stack


def _observability_queries() -> ModuleType:
    """tests/deploy/observability_queries.py, which the offline deploy checks also use."""
    path = Path(__file__).resolve().parents[1] / "deploy" / "observability_queries.py"
    spec = importlib.util.spec_from_file_location("nodebyte_deploy_observability_queries", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


queries = _observability_queries()


async def _scrape(stack: Stack) -> dict[str, str]:
    pages = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            response = await client.get(f"{stack.config.url(service)}/metrics")
            assert response.status_code == 200, f"{service}: {response.status_code}"
            pages[service] = response.text
    return pages


async def test_every_queried_metric_is_exported(stack: Stack) -> None:
    pages = await _scrape(stack)
    exported: set[str] = set()
    for service, text in pages.items():
        names = queries.exported_metric_names(text)
        assert "nodebyte_http_requests_total" in names, f"{service} /metrics looks wrong"
        exported |= names
    queried = queries.queried_metrics()
    missing = {
        name: where
        for name, where in queried.items()
        if name not in exported and name not in queries.EXTERNAL_METRICS
    }
    assert not missing, "queried but exported by no service:\n" + "\n".join(
        f"  {name}: {', '.join(sorted(set(where)))}" for name, where in sorted(missing.items())
    )


async def test_external_metrics_are_not_ones_a_service_exports(stack: Stack) -> None:
    """The list of metrics exported elsewhere must not hide one of ours."""
    pages = await _scrape(stack)
    exported = set().union(*(queries.exported_metric_names(t) for t in pages.values()))
    assert not exported & set(queries.EXTERNAL_METRICS)


def _samples(text: str, name: str) -> set[tuple[tuple[str, str], ...]]:
    """The label sets of `name`'s samples on a /metrics page."""
    return {
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_the_counters_alerts_read_exist_from_the_start(stack: Stack) -> None:
    """`increase()` of a series born at 1 is 0: the first sync failure, failed email or
    dead letter after a start would alert nobody. Each series exists before it counts."""
    pages = await _scrape(stack)
    prefix = stack.config.prefix
    published = {("sync", "sync.failed"), ("sync", "sync.completed"), ("notifier", "email.failed")}
    for service, event_type in published:
        labels = (("service", service), ("type", event_type))
        assert labels in _samples(pages[service], "nodebyte_events_published_total"), labels
    for sub in SUBSCRIPTIONS:
        dead = _samples(pages[sub.service], "nodebyte_events_dead_lettered_total")
        retried = _samples(pages[sub.service], "nodebyte_events_retried_total")
        queue = sub.queue(prefix)
        for event_type in sub.event_types:
            common = (("queue", queue), ("service", sub.service), ("type", event_type))
            assert tuple(sorted(common)) in retried, (sub.service, event_type)
            for reason in ("permanent", "undecodable"):
                assert tuple(sorted((*common, ("reason", reason)))) in dead, (queue, event_type)
    refreshes = _samples(pages["hytale-auth"], "nodebyte_hytale_refreshes_total")
    assert {(("outcome", "failed"), ("what", w)) for w in ("token", "session")} <= refreshes
