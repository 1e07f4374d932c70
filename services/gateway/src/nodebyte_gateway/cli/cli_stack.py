"""CLI commands that talk to the running stack over HTTP: trigger a sync and
follow it with a progress bar, and show every service's readiness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from nodebyte_common.settings import load_settings

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


class StackSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Where the services are (the gateway's own variables, same defaults)."""

    gateway_url: str = msgspec.field(default="http://127.0.0.1:8080", name="nodebyte_gateway_url")
    api_key: str = msgspec.field(default="", name="nodebyte_api_key")
    backend_api_key: str = ""
    sync_url: str = "http://127.0.0.1:8081"
    hytale_auth_url: str = "http://127.0.0.1:8082"
    notifier_url: str = "http://127.0.0.1:8083"
    scheduler_url: str = "http://127.0.0.1:8084"
    node_agent_gateway_url: str = "http://127.0.0.1:8085"

    def key(self) -> str:
        return self.api_key or self.backend_api_key

    def services(self) -> dict[str, str]:
        return {
            "gateway": self.gateway_url,
            "sync": self.sync_url,
            "hytale-auth": self.hytale_auth_url,
            "notifier": self.notifier_url,
            "scheduler": self.scheduler_url,
            "node-agent-gateway": self.node_agent_gateway_url,
        }


def stack_settings() -> StackSettings:
    return load_settings(StackSettings)


class SyncFailed(Exception):
    """The sync could not be queued, or it ended otherwise than COMPLETED."""


async def trigger_sync(
    client: httpx.AsyncClient, kind: str, skip_users: bool, requested_by: str
) -> str:
    response = await client.post(
        f"/api/v1/sync/{kind}", json={"skip_users": skip_users, "requested_by": requested_by}
    )
    body = _json(response)
    if response.status_code != 202:
        raise SyncFailed(
            f"the gateway refused the sync ({response.status_code}): {body.get('error')}"
        )
    return body["data"]["sync_log_id"]


async def sync_status(client: httpx.AsyncClient, log_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/sync/status/{log_id}")
    body = _json(response)
    if response.status_code != 200:
        raise SyncFailed(
            f"status of {log_id} unavailable ({response.status_code}): {body.get('error')}"
        )
    return body["data"]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError:
        return {"error": response.text[:200]}


async def follow_sync(
    client: httpx.AsyncClient,
    log_id: str,
    *,
    console: Console,
    timeout: float,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Poll the sync's status, drawing its progress, until it finishes."""
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("queued", total=None)
        while True:
            status = await sync_status(client, log_id)
            meta = status.get("metadata") or {}
            total = status.get("itemsTotal") or meta.get("itemsTotal") or None
            progress.update(
                task,
                total=total,
                completed=status.get("itemsSynced") or 0,
                description=f"{status['status']:<9} {meta.get('lastMessage') or ''}"[:60],
            )
            if status["status"] in FINISHED:
                return status
            if time.monotonic() > deadline:
                raise SyncFailed(f"sync {log_id} still {status['status']} after {timeout:.0f}s")
            await asyncio.sleep(interval)


async def readiness(services: dict[str, str], timeout: float) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=timeout) as client:
        results = await asyncio.gather(*(_ready(client, url) for url in services.values()))
    return dict(zip(services, results, strict=True))


async def _ready(client: httpx.AsyncClient, base_url: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = await client.get(f"{base_url.rstrip('/')}/health/ready")
    except httpx.HTTPError as exc:
        return {"url": base_url, "ready": False, "detail": type(exc).__name__}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    body = _json(response)
    checks = (body.get("data") or {}).get("checks") or body.get("details") or {}
    return {
        "url": base_url,
        "ready": response.status_code == 200,
        "detail": ", ".join(f"{k}={'ok' if v else 'down'}" for k, v in checks.items())
        or f"HTTP {response.status_code}",
        "ms": elapsed_ms,
    }
