"""Usage over time for charts: raw samples folded into hourly and daily aggregates.

Raw samples are kept for hours; every rollup folds the samples since the last
rollup (its bucket included, as it kept filling) into hourly buckets, and the
hours of those days into daily buckets. Charts read the aggregates, as
Canopus' usage endpoints do: `daily` is 24 hourly points, `weekly` 7 and
`monthly` 30 daily points, or any `startDate`/`endDate` range.
Node memory and disk are percentages of the node's totals; a server's are MB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from nodebyte_common.contracts.nodes import MinMax, Usage, UsagePoint, UsageSummary, UsageUnits

PERIODS: dict[str, tuple[str, timedelta]] = {
    "daily": ("hour", timedelta(hours=24)),
    "weekly": ("day", timedelta(days=7)),
    "monthly": ("day", timedelta(days=30)),
}

_UPSERT = """ON CONFLICT (subject_kind, subject_id, resolution, bucket) DO UPDATE SET
    samples = excluded.samples, cpu_avg = excluded.cpu_avg, cpu_max = excluded.cpu_max,
    memory_avg = excluded.memory_avg, memory_max = excluded.memory_max,
    disk_avg = excluded.disk_avg, disk_max = excluded.disk_max"""


async def roll_up(conn: asyncpg.Connection) -> None:
    """Fold new samples into hourly, then daily, buckets (call in a transaction)."""
    since = await conn.fetchval("SELECT rolled_until FROM usage_rollup_state FOR UPDATE")
    now = await conn.fetchval("SELECT now()")
    await conn.execute(
        f"""INSERT INTO usage_rollups
            SELECT 'node', node_id, 'hour', date_trunc('hour', at, 'UTC'), count(*),
                   avg(cpu_percent), max(cpu_percent),
                   avg(100.0 * memory_used_mb / nullif(memory_total_mb, 0)),
                   max(100.0 * memory_used_mb / nullif(memory_total_mb, 0)),
                   avg(100.0 * disk_used_mb / nullif(disk_total_mb, 0)),
                   max(100.0 * disk_used_mb / nullif(disk_total_mb, 0))
            FROM node_samples WHERE at >= date_trunc('hour', $1::timestamptz, 'UTC')
            GROUP BY node_id, date_trunc('hour', at, 'UTC') {_UPSERT}""",
        since,
    )
    await conn.execute(
        f"""INSERT INTO usage_rollups
            SELECT 'server', server_id, 'hour', date_trunc('hour', at, 'UTC'), count(*),
                   avg(cpu_percent), max(cpu_percent), avg(memory_mb), max(memory_mb),
                   avg(disk_mb), max(disk_mb)
            FROM server_samples WHERE at >= date_trunc('hour', $1::timestamptz, 'UTC')
            GROUP BY server_id, date_trunc('hour', at, 'UTC') {_UPSERT}""",
        since,
    )
    await conn.execute(
        f"""INSERT INTO usage_rollups
            SELECT subject_kind, subject_id, 'day', date_trunc('day', bucket, 'UTC'),
                   sum(samples),
                   sum(cpu_avg * samples) / sum(samples), max(cpu_max),
                   sum(memory_avg * samples) / sum(samples), max(memory_max),
                   sum(disk_avg * samples) / sum(samples), max(disk_max)
            FROM usage_rollups
            WHERE resolution = 'hour' AND bucket >= date_trunc('day', $1::timestamptz, 'UTC')
            GROUP BY subject_kind, subject_id, date_trunc('day', bucket, 'UTC') {_UPSERT}""",
        since,
    )
    await conn.execute("UPDATE usage_rollup_state SET rolled_until = $1", now)


def window(
    period: str, start: datetime | None, end: datetime | None
) -> tuple[str, datetime, datetime]:
    """(resolution, from, to) of a chart; KeyError for an unknown period."""
    resolution, span = PERIODS[period]
    end = end or datetime.now(UTC)
    start = start or end - span
    return resolution, start, end


def _pair(avg: float | None, peak: float | None) -> MinMax:
    return MinMax(
        avg=round(avg, 2) if avg is not None else None,
        max=round(peak, 2) if peak is not None else None,
    )


async def series(
    conn: asyncpg.Connection,
    kind: str,
    subject_id: UUID,
    period: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Usage:
    resolution, since, until = window(period, start, end)
    rows = await conn.fetch(
        """SELECT * FROM usage_rollups
           WHERE subject_kind = $1 AND subject_id = $2 AND resolution = $3
             AND bucket >= date_trunc($3, $4::timestamptz, 'UTC') AND bucket < $5
           ORDER BY bucket""",
        kind,
        subject_id,
        resolution,
        since,
        until,
    )
    points = [
        UsagePoint(
            timestamp=row["bucket"],
            samples=row["samples"],
            cpu=_pair(row["cpu_avg"], row["cpu_max"]),
            memory=_pair(row["memory_avg"], row["memory_max"]),
            disk=_pair(row["disk_avg"], row["disk_max"]),
        )
        for row in rows
    ]
    size = "percent" if kind == "node" else "mb"
    return Usage(
        period=period,
        resolution=resolution,
        since=since,
        until=until,
        units=UsageUnits(cpu="percent", memory=size, disk=size),
        summary=_summary(rows),
        points=points,
    )


def _summary(rows: list[asyncpg.Record]) -> UsageSummary:
    samples = sum(row["samples"] for row in rows)

    def metric(name: str) -> MinMax:
        weighted = [
            (row[f"{name}_avg"], row["samples"]) for row in rows if row[f"{name}_avg"] is not None
        ]
        peaks = [row[f"{name}_max"] for row in rows if row[f"{name}_max"] is not None]
        total = sum(n for _, n in weighted)
        avg = sum(v * n for v, n in weighted) / total if total else None
        return _pair(avg, max(peaks) if peaks else None)

    return UsageSummary(
        samples=samples, cpu=metric("cpu"), memory=metric("memory"), disk=metric("disk")
    )
