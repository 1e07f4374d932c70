"""A large file through gateway → node-agent-gateway → agent and back: throughput and memory.

One gateway and one node-agent-gateway process, a reference agent (in this
process) whose server directory is on local disk. A file of `--mb` MB (200 by
default) is uploaded through `POST /api/servers/{id}/files/upload`
(multipart, streamed) and downloaded through `GET …/files/download`; the bytes
on the agent's disk and the bytes downloaded are checked against the source's
SHA-256. Beside them, in the same run and on the same disk, a direct local
copy (`shutil.copyfile`) of the same file: the floor under any transfer.

Both services' memory is sampled (VmRSS) every 20 ms during the transfers, and
their VmHWM (peak RSS over the process's life) is read at the end: each must
stay under 150 MB, which only holds if no hop buffers a body whole.

    .venv/bin/python bench/files.py [--mb 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from nodebyte_common.bootstrap import bootstrap
from nodebyte_devstack.accounts import mint_admin_key
from nodebyte_devstack.agent_harness import agent_url, register_node, register_server
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SERVICES = ("gateway", "node-agent-gateway")
RSS_LIMIT_MB = 150.0
PIECE = 1 << 20


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class MemorySampler:
    """Peak VmRSS of some processes, sampled while a transfer runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak_kb = dict.fromkeys(pids, 0)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.peak_kb[name] = max(self.peak_kb[name], status_kb(pid, "VmRSS"))
            await asyncio.sleep(0.02)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


def make_source(path: Path, megabytes: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as sink:
        for _ in range(megabytes):
            piece = os.urandom(PIECE)
            digest.update(piece)
            sink.write(piece)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while piece := source.read(PIECE):
            digest.update(piece)
    return digest.hexdigest()


async def upload(base: str, key: str, server_id: str, source: Path) -> float:
    form = aiohttp.FormData()
    form.add_field("path", "/")
    with source.open("rb") as handle:
        form.add_field("file", handle, filename="big.bin")
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession(headers={"X-API-Key": key}) as session,
            session.post(f"{base}/api/servers/{server_id}/files/upload", data=form) as response,
        ):
            body = await response.text()
            if response.status != 200:
                raise RuntimeError(f"upload failed: {response.status} {body}")
    return time.perf_counter() - started


async def download(base: str, key: str, server_id: str, sink: Path) -> float:
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(headers={"X-API-Key": key}) as session,
        session.get(
            f"{base}/api/servers/{server_id}/files/download", params={"path": "/big.bin"}
        ) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"download failed: {response.status} {await response.text()}")
        with sink.open("wb") as handle:
            async for piece in response.content.iter_chunked(PIECE):
                handle.write(piece)
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    config = StackConfig.isolated(ADMIN, AMQP, f"benchfiles{tag}")
    limit = str((args.mb + 16) * PIECE)
    config.extra_env["gateway"] = {"FILE_UPLOAD_MAX_BYTES": limit}
    # The reference's heartbeat (the dev stack's 2 s also sets a 2 s WebSocket ping timeout,
    # which a machine this loaded misses whatever the transfer).
    config.extra_env["node-agent-gateway"] = {"AGENT_HEARTBEAT_INTERVAL_SECONDS": "30"}
    work = Path(tempfile.mkdtemp(prefix="bench-files-"))
    stack = Stack(config, work / "logs")
    await bootstrap(config.admin_dsn, config.database)
    agent: SimulatedAgent | None = None
    figures: dict[str, Any] = {"mb": args.mb}
    try:
        for service in SERVICES:
            stack.start_service(service)
        stack.wait_healthy(list(SERVICES), 120)
        key = await mint_admin_key(config)
        base = config.url("gateway")
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30) as api:
            node = await register_node(api)
            server = await register_server(api, node["id"])
        agent = SimulatedAgent(
            agent_url(config.url("node-agent-gateway")),
            node["id"],
            node["deploymentToken"],
            data_dir=work / "agent",
            record_frames=False,
        )
        agent.start()
        await asyncio.wait_for(agent.connected.wait(), 30)

        source = work / "source.bin"
        expected = make_source(source, args.mb)
        started = time.perf_counter()
        shutil.copyfile(source, work / "copy.bin")
        figures["local_copy_s"] = time.perf_counter() - started
        (work / "copy.bin").unlink()

        pids = {name: stack.processes[name].popen.pid for name in SERVICES}
        with MemorySampler(pids) as sampler:
            figures["upload_s"] = await upload(base, key, server["id"], source)
            landed = agent.server_dir(server["id"]) / "big.bin"
            figures["upload_intact"] = sha256_of(landed) == expected
            figures["download_s"] = await download(base, key, server["id"], work / "down.bin")
            figures["download_intact"] = sha256_of(work / "down.bin") == expected
        for name, pid in pids.items():
            figures[f"{name}_peak_rss_mb"] = sampler.peak_kb[name] / 1024
            figures[f"{name}_vmhwm_mb"] = status_kb(pid, "VmHWM") / 1024
    except Exception:
        if agent is not None:
            print(f"agent connections closed: {agent.record.closes}", file=sys.stderr)
        for service in SERVICES:
            print(f"--- {service} log tail ---\n{stack.tail(service)}", file=sys.stderr)
        raise
    finally:
        if agent is not None:
            await agent.stop()
        stack.stop_all()
        await discard_stack(config)
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return figures


def report(f: dict[str, Any]) -> bool:
    mb = f["mb"]
    print(f"file: {mb} MB")
    copy = f["local_copy_s"]
    print(f"local copy (shutil.copyfile): {copy:.2f}s = {mb / copy:.0f} MB/s")
    for way in ("upload", "download"):
        seconds = f[f"{way}_s"]
        intact = "bytes identical" if f[f"{way}_intact"] else "BYTES DIFFER"
        print(f"{way} through the stack: {seconds:.2f}s = {mb / seconds:.0f} MB/s ({intact})")
    ok = f["upload_intact"] and f["download_intact"]
    for name in SERVICES:
        peak, hwm = f[f"{name}_peak_rss_mb"], f[f"{name}_vmhwm_mb"]
        within = max(peak, hwm) < RSS_LIMIT_MB
        ok = ok and within
        verdict = "under" if within else "OVER"
        print(
            f"{name}: peak RSS sampled {peak:.1f} MB, VmHWM {hwm:.1f} MB "
            f"({verdict} {RSS_LIMIT_MB:.0f} MB)"
        )
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    sys.exit(0 if report(asyncio.run(main(parser.parse_args()))) else 1)
