"""The gateway's own CPU per request, without sockets: its ASGI app called in-process.

A stack (emulators, gateway, sync, notifier) runs as usual; this process builds a
second gateway replica on the same settings, starts its lifespan and calls it
directly with the scope uvicorn would build, one request after another. The figure
is what the gateway's middleware, routing and handler cost, with no HTTP parsing,
socket writes or event-loop wake-ups, so it moves little with the machine's load.
`--profile DIR` samples this process with py-spy (collapsed stacks per target).

    .venv/bin/python bench/gateway_inproc.py [--requests 10000] [--rounds 5] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# bench/jwt.py would stand in for PyJWT, which the gateway built here imports: this
# directory is searched last, for `gateway` alone.
_HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from gateway import (  # noqa: E402 - bench/gateway.py, beside this file
    _completed_sync,
    _tech_team_token,
    gateway_stack,
    start_gateway_services,
)

from nodebyte_devstack.cleanup import discard_stack  # noqa: E402

Message = dict[str, Any]


class Lifespan:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.ensure_future(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(self.outbox.get(), 120)
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the in-process gateway did not start: {message}")

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self.outbox.get(), 60)


def _scope(path: str, headers: dict[str, str], port: int) -> Message:
    raw = [(b"host", f"127.0.0.1:{port}".encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", port),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": raw,
    }


async def _drive(app: Any, scope: Message, requests: int) -> tuple[float, int]:
    """(CPU-µs per request, status of the last answer)."""
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    for _ in range(500):  # warm: caches, leases
        await app({**scope, "state": {}}, receive, send)
    started = time.process_time()
    for _ in range(requests):
        await app({**scope, "state": {}}, receive, send)
    return (time.process_time() - started) * 1e6 / requests, status


def _spy(output: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - py-spy on this very process
        [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(os.getpid()),
         "-r", "500", "-f", "raw", "-o", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def _measure(env: dict[str, str], targets: list[Any], args: argparse.Namespace) -> None:
    os.environ.update(env)
    from nodebyte_gateway.app import build_app

    app = build_app()
    lifespan = Lifespan(app)
    await lifespan.start()
    try:
        gc.collect()
        for name, path, headers in targets:
            scope = _scope(path, headers, int(env["PORT"]))
            await _drive(app, scope, 1000)
            spy = _spy(args.profile / f"{name}.txt") if args.profile else None
            if spy:
                await asyncio.sleep(1.5)
            # The least of several rounds: other processes only ever add to it.
            rounds = [await _drive(app, scope, args.requests) for _ in range(args.rounds)]
            if spy:
                spy.send_signal(2)
                spy.wait(timeout=60)
            us, status = min(rounds)
            print(f"{name}: {us:.1f} CPU-us/request in-process (status {status})", flush=True)
    except Exception:
        traceback.print_exc()
    finally:
        await lifespan.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    stack = gateway_stack("nb-bench-gwin-")
    config = stack.config
    try:
        start_gateway_services(stack)
        headers = {"X-API-Key": config.api_key}
        log_id = _completed_sync(config.url("gateway"), headers)
        bearer = {"Authorization": f"Bearer {asyncio.run(_tech_team_token(config))}"}
        targets = [
            ("sync_status", f"/api/v1/sync/status/{log_id}", headers),
            ("sync_status_bearer", f"/api/v1/sync/status/{log_id}", bearer),
            ("public_stats", "/api/stats", {}),
        ]
        asyncio.run(_measure(config.service_env("gateway"), targets, args))
    finally:
        stack.stop_all()
        asyncio.run(discard_stack(config))
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
