"""Prometheus metrics of the scheduler (served at /metrics with the common ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_RECORDED = Counter(
    "nodebyte_scheduler_runs_total",
    "Runs recorded, by trigger and status",
    ["trigger", "status"],
)
FIRE_LAG = Histogram(
    "nodebyte_scheduler_fire_lag_seconds",
    "From a run's due time to its firing (jitter included), in schedule seconds",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
IS_LEADER = Gauge("nodebyte_scheduler_leader", "1 while this replica holds the lease")
TASK_OUTCOMES = Counter(
    "nodebyte_scheduler_task_outcomes_total",
    "Task runs settled, by outcome (sent: no failure reported in time)",
    ["outcome"],
)
