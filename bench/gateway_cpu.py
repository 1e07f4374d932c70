"""CPU per request of the gateway process, beside the bare framework's, in one run.

Wall-clock rates on a shared two-core machine move with whatever else runs; the
CPU a process spends per answered request does not (much). For each target of
`bench/gateway.py` this warms up, reads the serving process's utime+stime from
/proc, runs wrk, reads them again and divides by the requests wrk completed.
With `--profile DIR` it also samples the gateway with py-spy during each
gateway target (collapsed stacks, `DIR/<target>.txt`).

    .venv/bin/python bench/gateway_cpu.py [--seconds 10] [--profile /tmp/prof]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gateway import (  # bench/gateway.py, beside this file
    CONSTANT_APP,
    WARM_UP_SECONDS,
    _completed_sync,
    _run_wrk,
    _tech_team_token,
    gateway_stack,
    start_gateway_services,
)

from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import free_port

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (all threads)


def measure(
    pid: int, url: str, seconds: int, headers: dict[str, str], profile: Path | None
) -> tuple[float, int, float]:
    """(CPU-µs per request, requests, requests/s) of `pid` answering `url` under wrk."""
    _run_wrk(url, WARM_UP_SECONDS, headers)
    spy = None
    if profile is not None:
        spy = subprocess.Popen(  # noqa: S603 - py-spy on our own process
            [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-r", "200",
             "-d", str(seconds), "-f", "raw", "-o", str(profile), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    before = cpu_seconds(pid)
    out = _run_wrk(url, seconds, headers)
    used = cpu_seconds(pid) - before
    if spy is not None:
        spy.wait(timeout=60)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"WARNING: {non2xx.group(1)} answers were not 2xx for {url}")
    return used * 1e6 / requests, requests, rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    stack = gateway_stack("nb-bench-gwcpu-")
    config = stack.config
    port = free_port()
    constant = subprocess.Popen([sys.executable, "-c", CONSTANT_APP, str(port)])  # noqa: S603
    results = {}
    try:
        start_gateway_services(stack)
        gateway_pid = stack.processes["gateway"].popen.pid
        headers = {"X-API-Key": config.api_key}
        log_id = _completed_sync(config.url("gateway"), headers)
        bearer = {"Authorization": f"Bearer {asyncio.run(_tech_team_token(config))}"}
        time.sleep(1)
        status_url = f"{config.url('gateway')}/api/v1/sync/status/{log_id}"
        targets = [
            ("constant_json", constant.pid, f"http://127.0.0.1:{port}/constant", {}),
            ("sync_status", gateway_pid, status_url, headers),
            ("sync_status_bearer", gateway_pid, status_url, bearer),
            ("public_stats", gateway_pid, f"{config.url('gateway')}/api/stats", {}),
        ]
        for name, pid, url, extra in targets:
            profile = args.profile / f"{name}.txt" if args.profile else None
            results[name] = measure(pid, url, args.seconds, extra, profile)
    finally:
        constant.terminate()
        stack.stop_all()
        asyncio.run(discard_stack(config))
    print(f"load: {os.getloadavg()}")
    for name, (us, requests, rate) in results.items():
        print(f"{name}: {us:.0f} CPU-us/request ({requests} requests, {rate:.0f}/s)")
    floor = results["constant_json"][0]
    for name in ("sync_status", "sync_status_bearer", "public_stats"):
        print(f"{name}_cpu_ratio: {floor / results[name][0]:.2f}")


if __name__ == "__main__":
    main()
