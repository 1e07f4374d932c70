"""`GET /api/deploy/{token}`: the node's deploy script, run as a host would run it
(`curl … | sh`), brings the node's agent online; a token that is not current is 404.
And the local stack announces the reference's 30-second heartbeat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from nodebyte_common.settings import load_settings
from nodebyte_devstack.agent_harness import register_node
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings


@pytest.fixture
def shells() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


def piped_to_sh(script: bytes) -> subprocess.Popen[bytes]:
    """`curl -fsSL <deployUrl> | sh`, with the reference agent as the agent's command."""
    agent_command = f"{sys.executable} -m nodebyte_emulators agent"
    shell = subprocess.Popen(
        ["/bin/sh"],
        stdin=subprocess.PIPE,
        env={**os.environ, "NODEBYTE_AGENT": agent_command},
        start_new_session=True,
    )
    assert shell.stdin is not None
    shell.stdin.write(script)
    shell.stdin.close()
    return shell


async def test_the_deploy_script_brings_the_agent_online(
    stack: Stack,
    gateway: httpx.AsyncClient,
    shells: list[subprocess.Popen[bytes]],
) -> None:
    node = await register_node(gateway)
    token = node["deploymentToken"]
    assert node["deployUrl"] == f"{stack.config.url('gateway')}/api/deploy/{token}"
    async with httpx.AsyncClient(timeout=10) as curl:
        response = await curl.get(node["deployUrl"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/x-shellscript")
    script = response.text
    agent_url = "ws" + stack.config.url("node-agent-gateway").removeprefix("http") + "/ws"
    assert agent_url in script
    assert token in script
    assert node["id"] in script

    shells.append(piped_to_sh(response.content))

    async def online() -> bool:
        data = (await gateway.get(f"/api/nodes/{node['id']}")).json()["data"]
        return data["isOnline"] is True

    await eventually(online, timeout=30)


async def test_a_token_that_is_not_current_finds_no_script(
    gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    node = await register_node(gateway)
    old = node["deploymentToken"]
    rotated = await gateway.post(f"/api/nodes/{node['id']}/deployment-token")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["deploymentToken"]
    assert rotated.json()["data"]["deployUrl"].endswith(f"/api/deploy/{new}")
    assert (await anonymous.get(f"/api/deploy/{new}")).status_code == 200
    for token in (old, "nbdt_" + "x" * 43, "not a token", "a" * 300):
        response = await anonymous.get(f"/api/deploy/{token}")
        assert response.status_code == 404, (token, response.text)
        assert response.json()["success"] is False


def test_the_local_stack_announces_the_reference_heartbeat() -> None:
    env = StackConfig().service_env("node-agent-gateway")
    settings = load_settings(NodeAgentGatewaySettings, env)
    assert settings.agent_heartbeat_interval_seconds == 30.0
