"""Steady mixed work through the public API, each unit with a marker its effect carries.

- mail: `POST /api/v1/email/queue` to an address of its own → a message in the mail sink;
- hook: `POST /api/v1/webhook/dispatch` with the marker in its data → a Discord message;
- sync: `POST /api/v1/sync/locations` → one `sync.completed` for its sync_log_id;
- cmd: `POST /api/servers/{id}/command` → the reference agent receives it (and acks);
- job: a scheduler command task, created and run now (`POST /api/tasks/{id}/execute`) →
  the agent receives its command once.

A caller whose request fails retries it as a client would (the API was down,
not the work); only an ask never accepted counts as refused.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from chaos.tally import Tally
from nodebyte_devstack.agent_harness import EventTap, agent_url, register_node, register_server
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent
from nodebyte_emulators.agent_runtime import Container

ASK_PATIENCE_SECONDS = 45.0  # how long a client keeps retrying one request
CHAOS_EVENT = "chaos.tick"
DEAD_LETTERS = "/api/admin/bus/dead-letters"
KINDS = ("mail", "hook", "sync", "cmd", "job")
# Asks sent with an Idempotency-Key: safe to repeat even when an answer was lost.
KEYED = frozenset({"mail", "hook", "cmd", "job"})


class Workload:
    def __init__(self, stack: Stack, tap: EventTap) -> None:
        self.stack = stack
        self.tap = tap
        self.run = secrets.token_hex(3)
        self._serial = itertools.count(1)
        self.gateway = httpx.AsyncClient(
            base_url=stack.config.url("gateway"),
            headers={"X-API-Key": stack.config.admin_api_key},
            # Longer than a SIGSTOP: a stopped gateway delays an answer, never loses it.
            timeout=httpx.Timeout(40.0, connect=5.0),
        )
        self.discord = httpx.AsyncClient(base_url=stack.config.url("discord"), timeout=10)
        self.mail = httpx.AsyncClient(base_url=stack.config.url("mail"), timeout=10)
        self.hook_id = str(10**17 + secrets.randbelow(10**17))
        self.server_id = ""
        self._tasks: dict[int, str] = {}  # the scheduler task of each job ask
        self.agent: SimulatedAgent | None = None

    async def prepare(self) -> None:
        """A webhook for the dispatches, and a running server on a node with its agent."""
        url = f"{self.stack.config.url('discord')}/api/webhooks/{self.hook_id}/{self.run}"
        body = {"name": f"chaos {self.run}", "webhookUrl": url, "type": "CUSTOM"}
        await _accepted(self.gateway.post("/api/admin/settings/webhooks", json=body))
        node = await register_node(self.gateway)
        self.server_id = (await register_server(self.gateway, node["id"]))["id"]
        ws = agent_url(self.stack.config.url("node-agent-gateway"))
        self.agent = SimulatedAgent(ws, node["id"], node["deploymentToken"])
        self.agent.start()
        await asyncio.wait_for(self.agent.connected.wait(), 30)
        path = f"/api/servers/{self.server_id}"
        container = self.agent.runtime.container(self.server_id)
        for action, reached in (("install", "stopped"), ("start", "running")):
            asked = await _accepted(self.gateway.post(f"{path}/{action}", json={}))
            done = f"{path}/commands/{asked['requestId']}"
            await eventually(lambda d=done: self._field(d, "status", "acknowledged"), timeout=60)
            # The agent acknowledges before it starts: a new server is `stopped` already.
            await eventually(lambda s=reached: _reached(container, s), timeout=60)
            await eventually(lambda s=reached: self._field(path, "state", s), timeout=60)

    async def _field(self, path: str, name: str, value: str) -> bool:
        response = await self.gateway.get(path)
        return response.status_code == 200 and response.json()["data"][name] == value

    async def aclose(self) -> None:
        if self.agent is not None:
            await self.agent.stop()
        for client in (self.gateway, self.discord, self.mail):
            await client.aclose()

    async def drive(self, tally: Tally, seconds: float, *, kinds: tuple[str, ...] = KINDS) -> None:
        """Ask for work at a steady pace for `seconds`: one sync, the rest every ~0.4 s."""
        asks: list[asyncio.Task[None]] = []
        if "sync" in kinds:
            asks.append(asyncio.create_task(self.ask(tally, "sync")))
        steady = [k for k in kinds if k != "sync"]
        deadline = time.monotonic() + seconds
        while steady and time.monotonic() < deadline:
            asks += [asyncio.create_task(self.ask(tally, kind)) for kind in steady]
            await asyncio.sleep(0.4)
        await asyncio.gather(*asks)

    async def ask(self, tally: Tally, kind: str) -> None:
        n = next(self._serial)
        try:
            marker = await _patiently(lambda: ASKS[kind](self, n), keyed=kind in KEYED)
        except (httpx.HTTPError, RuntimeError) as exc:
            tally.refused += 1
            tally.refusals.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
            return
        tally.asked.append(marker)

    async def _mail(self, n: int) -> str:
        to = f"chaos-{self.run}-{n}@nodebyte.test"
        body = {
            "to": to,
            "subject": f"chaos {n}",
            "template": "welcome",
            "data": {"name": f"chaos {n}"},
        }
        # The key makes a retry after an unclear answer (the gateway died) one mail, not two.
        key = {"Idempotency-Key": f"chaos-{self.run}-mail-{n}"}
        await _accepted(self.gateway.post("/api/v1/email/queue", json=body, headers=key))
        return f"mail:{to}"

    async def _hook(self, n: int) -> str:
        marker = f"chaos-{self.run}-{n}"
        body = {"event": CHAOS_EVENT, "type": "CUSTOM", "data": {"marker": marker}}
        key = {"Idempotency-Key": marker}  # a retry is the same dispatch
        await _accepted(self.gateway.post("/api/v1/webhook/dispatch", json=body, headers=key))
        return f"hook:{marker}"

    async def _sync(self, n: int) -> str:
        body = {"requested_by": f"chaos-{self.run}-{n}"}
        data = await _accepted(self.gateway.post("/api/v1/sync/locations", json=body))
        return f"sync:{data['sync_log_id']}"

    async def _cmd(self, n: int) -> str:
        path = f"/api/servers/{self.server_id}/command"
        key = {"Idempotency-Key": f"chaos-{self.run}-cmd-{n}"}  # a retry is the same command
        body = {"command": f"say chaos {n}"}
        data = await _accepted(self.gateway.post(path, json=body, headers=key))
        return f"cmd:{data['requestId']}"

    async def _job(self, n: int) -> str:
        marker = f"chaos-{self.run}-job-{n}"
        body = {
            "serverId": self.server_id,
            "name": marker,
            "action": "command",
            "payload": {"command": f"say {marker}"},
            "schedule": "0 3 1 1 *",  # run by hand here, not by the clock
            "enabled": True,
        }
        if n not in self._tasks:  # a retried ask runs the task it made, never a second one
            self._tasks[n] = (await _accepted(self.gateway.post("/api/tasks", json=body)))["id"]
        execute = f"/api/tasks/{self._tasks[n]}/execute"
        # The key makes a retry after an unclear answer run the task once, not twice.
        await _accepted(self.gateway.post(execute, headers={"Idempotency-Key": marker}))
        return f"job:{marker}"

    async def _job_failed(self, marker: str) -> bool:
        """Whether the scheduler reports the job's run failed (its command was not taken)."""
        task_id = self._tasks.get(int(marker.rsplit("-", 1)[1]))
        if task_id is None:
            return False
        response = await self.gateway.get(f"/api/tasks/{task_id}/runs")
        runs = response.json().get("data") if response.status_code == 200 else None
        return any(run.get("status") == "failed" for run in runs or [])

    async def count(self, tally: Tally) -> None:
        """Count every asked unit's effects (and reported failures) as its user sees them."""
        mails = (await self.mail.get("/_emulator/messages")).json()
        hooks = (
            await self.discord.get("/_emulator/messages", params={"webhook_id": self.hook_id})
        ).json()
        received = self.agent.record.received if self.agent else []
        letters = await self._dead_letters(tally)
        tally.effects.clear()
        for marker in tally.asked:
            kind, _, key = marker.partition(":")  # dlq markers: dlq:<queue>:<id>
            if kind == "mail":
                tally.effects[marker] = sum(1 for m in mails if _addressed(m, key))
            elif kind == "hook":
                tally.effects[marker] = sum(1 for m in hooks if _mentions(m["body"], key))
            elif kind == "dlq":
                tally.effects[marker] = letters.count(key)
            elif kind == "sync":
                tally.effects[marker] = len(self.tap.of("sync.completed", sync_log_id=key))
                if self.tap.of("sync.failed", sync_log_id=key):
                    tally.failed.add(marker)
            elif kind == "job":
                tally.effects[marker] = sum(1 for f in received if _mentions(f, f"say {key}"))
                if not tally.effects[marker] and await self._job_failed(key):
                    tally.failed.add(marker)
            else:
                tally.effects[marker] = sum(1 for f in received if f.get("requestId") == key)
                if self.tap.of("server.command_failed", request_id=key):
                    tally.failed.add(marker)

    async def _dead_letters(self, tally: Tally) -> list[str]:
        """`queue:id` of each dead letter in the queues the tally's poison went to."""
        found = []
        for queue in {m.split(":")[1] for m in tally.asked if m.startswith("dlq:")}:
            listed = self.gateway.get(DEAD_LETTERS, params={"queue": queue, "limit": 500})
            found += [f"{queue}:{x['id']}" for x in await _accepted(listed)]
        return found

    async def discard_poison(self, tally: Tally) -> None:
        """Remove the phase's poison through the admin API, as an operator would."""
        for marker in tally.asked:
            if marker.startswith("dlq:"):
                _, queue, letter_id = marker.split(":", 2)
                await self.gateway.delete(f"{DEAD_LETTERS}/{letter_id}", params={"queue": queue})


async def _reached(container: Container, state: str) -> bool:
    return container.state == state and container.installed


def _mentions(body: Any, marker: str) -> bool:
    """Whether `marker` is in the body whole: `chaos-x-3` must not count `chaos-x-31`'s
    message (a prefix match counted the first phase's 3 as doubled when 31 arrived)."""
    return re.search(re.escape(marker) + r"(?![0-9])", json.dumps(body)) is not None


def _addressed(message: dict[str, Any], address: str) -> bool:
    to = message.get("to")
    return address in to if isinstance(to, list) else to == address


ASKS: dict[str, Callable[[Workload, int], Awaitable[str]]] = {
    "mail": Workload._mail,
    "hook": Workload._hook,
    "sync": Workload._sync,
    "cmd": Workload._cmd,
    "job": Workload._job,
}


async def _accepted(sent: Awaitable[httpx.Response]) -> Any:
    response = await sent
    if response.status_code not in (200, 201, 202):
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return response.json()["data"]


async def _patiently(ask: Callable[[], Awaitable[str]], *, keyed: bool) -> str:
    """Retry a refused request with growing pauses, as a client would.

    Without an Idempotency-Key, only where the request surely did nothing (no
    connection, or an error answer): one sent and then unanswered may have been
    taken. With a key, an unanswered request is asked again too: the key makes it one.
    """
    retried = (httpx.TransportError,) if keyed else (httpx.ConnectError, httpx.ConnectTimeout)
    deadline = time.monotonic() + ASK_PATIENCE_SECONDS
    pause = 0.2
    while True:
        try:
            return await ask()
        except (*retried, RuntimeError):
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)
