"""Gateway throughput and latency under wrk, beside the framework's ceiling.

In the same run: a bare Litestar app on the same server settings (uvicorn,
uvloop, httptools, no access log) answering a constant JSON, then the gateway's
`GET /api/v1/sync/status/{id}` with the bootstrap key and again with a signed-in
user's Bearer token (whose session, account and roles are checked on every request,
cached 2 s per replica), and `GET /api/stats` (each through auth, rate limit, metrics
and an internal call to the sync service). 64 connections, 2
wrk threads, each target warmed up for 3 s first. The ratio to the ceiling is the figure.

    .venv/bin/python bench/gateway.py [--seconds 15]   (needs `wrk`)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from nodebyte_devstack.accounts import create_signed_in_user, mint_admin_key
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig, free_port
from nodebyte_devstack.processes import Stack

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
WARM_UP_SECONDS = 3
UNREACHED_LIMITS = "default=1000000000/60,public=1000000000/60,sync=1000000000/60"
START_TIMEOUT = 300  # seconds: a shared, busy machine starts Python services slowly
CONSTANT_APP = """
from litestar import Litestar, get
import uvicorn, sys
@get("/constant", sync_to_thread=False)
def constant() -> dict:
    return {"success": True, "data": {"id": "01a20975-9337-7e65-8ccd-a482f04c82bf",
            "status": "COMPLETED", "itemsTotal": 500, "itemsSynced": 500}}
uvicorn.run(Litestar([constant]), host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop",
            http="httptools", access_log=False, log_level="warning")
"""


def wrk(url: str, seconds: int, headers: dict[str, str]) -> dict[str, float]:
    """Measure after an unmeasured warm-up of the same load (caches, leases, pools)."""
    _run_wrk(url, WARM_UP_SECONDS, headers)
    out = _run_wrk(url, seconds, headers)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rate,
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _run_wrk(url: str, seconds: int, headers: dict[str, str]) -> str:
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    return subprocess.run(  # noqa: S603 - wrk against our own stack
        [*args, url], capture_output=True, text=True, check=True
    ).stdout


def _latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    stack = gateway_stack("nb-bench-gw-")
    config = stack.config
    port = free_port()
    constant = subprocess.Popen([sys.executable, "-c", CONSTANT_APP, str(port)])  # noqa: S603
    try:
        start_gateway_services(stack)
        headers = {"X-API-Key": config.api_key}
        log_id = _completed_sync(config.url("gateway"), headers)
        bearer = {"Authorization": f"Bearer {asyncio.run(_tech_team_token(config))}"}
        time.sleep(1)
        status_url = f"{config.url('gateway')}/api/v1/sync/status/{log_id}"
        ceiling = wrk(f"http://127.0.0.1:{port}/constant", args.seconds, {})
        status = wrk(status_url, args.seconds, headers)
        status_bearer = wrk(status_url, args.seconds, bearer)
        stats = wrk(f"{config.url('gateway')}/api/stats", args.seconds, {})
    finally:
        constant.terminate()
        stack.stop_all()
        asyncio.run(discard_stack(config))
    if any(figures["non_2xx"] for figures in (status, status_bearer, stats)):
        print("WARNING: some answers were not 2xx: the rates below are not comparable")
    for name, figures in (
        ("constant_json", ceiling),
        ("sync_status", status),
        ("sync_status_bearer", status_bearer),
        ("public_stats", stats),
    ):
        print(f"{name}_rps: {figures['rps']:.0f}")
        print(f"{name}_p50_ms: {figures['p50_ms']:.2f}")
        print(f"{name}_p99_ms: {figures['p99_ms']:.2f}")
        print(f"{name}_non_2xx: {figures['non_2xx']:.0f}")
    print(f"sync_status_ratio: {status['rps'] / ceiling['rps']:.2f}")
    print(f"sync_status_bearer_ratio: {status_bearer['rps'] / ceiling['rps']:.2f}")
    print(f"public_stats_ratio: {stats['rps'] / ceiling['rps']:.2f}")


def gateway_stack(log_prefix: str) -> Stack:
    """An isolated stack for the gateway benches, with limits no load here reaches (a 429
    is a cheap answer and would inflate the rate)."""
    config = replace(StackConfig.isolated(ADMIN, AMQP), gateway_rate_limits=UNREACHED_LIMITS)
    return Stack(config, Path(tempfile.mkdtemp(prefix=log_prefix)))


def start_gateway_services(stack: Stack) -> None:
    """The emulators, then the gateway and the two owners its measured routes read."""
    stack.prepare_database()
    stack.start_emulators()
    stack.wait_healthy(["pterodactyl", "discord"], START_TIMEOUT)
    for service in ("gateway", "sync", "notifier"):
        stack.start_service(service)
    stack.wait_healthy(["gateway", "sync", "notifier"], START_TIMEOUT)


async def _tech_team_token(config: StackConfig) -> str:
    """A signed-in TECH_TEAM member's access token (it holds sync.read through its role)."""
    admin_key = await mint_admin_key(config)
    user = await create_signed_in_user(config.url("gateway"), admin_key, roles=["TECH_TEAM"])
    return user.access_token


def _completed_sync(gateway: str, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=gateway, headers=headers, timeout=30) as client:
        log_id = client.post("/api/v1/sync/full", json={}).json()["data"]["sync_log_id"]
        for _ in range(600):
            if client.get(f"/api/v1/sync/status/{log_id}").json()["data"]["status"] == "COMPLETED":
                return log_id
            time.sleep(0.1)
    raise RuntimeError("the warm-up sync did not complete")


if __name__ == "__main__":
    main()
