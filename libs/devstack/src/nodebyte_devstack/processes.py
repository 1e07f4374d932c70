"""Start, watch and stop the stack's processes (services and emulators)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from nodebyte_common.bootstrap import bootstrap
from nodebyte_devstack.accounts import mint_admin_key
from nodebyte_devstack.config import (
    EMULATORS,
    MAIL_RESEND_KEY,
    MAIL_SMTP_PASSWORD,
    MAIL_SMTP_USER,
    PANEL_APP_KEY,
    PANEL_CLIENT_KEY,
    SERVICES,
    StackConfig,
    free_port,
)

MODULES = {s: "nodebyte_" + s.replace("-", "_") for s in SERVICES}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    health_url: str


class Stack:
    def __init__(self, config: StackConfig, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.processes: dict[str, Process] = {}

    def prepare_database(self) -> None:
        asyncio.run(bootstrap(self.config.admin_dsn, self.config.database))

    def start_emulators(self) -> None:
        for name in EMULATORS:
            self.start_emulator(name)

    def start_emulator(self, name: str) -> None:
        args = [
            "-m",
            "nodebyte_emulators",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.config.ports[name]),
        ]
        if name == "pterodactyl":
            args += ["--app-key", PANEL_APP_KEY, "--client-key", PANEL_CLIENT_KEY]
            args += list(self.config.panel_args)
        if name == "mail":
            args += self._mail_args()
        self._spawn(name, args, {}, f"{self.config.url(name)}/_emulator/stats")

    def _mail_args(self) -> list[str]:
        tls = self.config.mail_tls_dir
        return [
            "--smtp-port",
            str(self.config.ports["mail-smtp"]),
            "--tls-cert",
            str(tls / "cert.pem"),
            "--tls-key",
            str(tls / "key.pem"),
            "--require-starttls",
            "--smtp-user",
            MAIL_SMTP_USER,
            "--smtp-password",
            MAIL_SMTP_PASSWORD,
            "--resend-key",
            MAIL_RESEND_KEY,
        ]

    def start_service(self, service: str) -> None:
        env = self.config.service_env(service)
        self._spawn(
            service,
            ["-m", MODULES[service]],
            env,
            f"http://127.0.0.1:{self.config.ports[service]}/health/ready",
        )

    def start_extra_replica(
        self, service: str, env: dict[str, str] | None = None, timeout: float = 120.0
    ) -> int:
        """Another process of `service` on a port of its own; returns the port."""
        port = free_port()
        replica_env = {
            **self.config.service_env(service),
            "PORT": str(port),
            "BACKEND_PORT": str(port),
            **(env or {}),
        }
        name = f"{service}-replica-{port}"
        self._spawn(
            name, ["-m", MODULES[service]], replica_env, f"http://127.0.0.1:{port}/health/ready"
        )
        self.wait_healthy([name], timeout)
        return port

    # Generous: a healthy stack is up in seconds, and only a broken one waits it out, while
    # six services importing at once on a busy two-core machine can take a minute or more.
    def start_all(self, timeout: float = 180.0) -> None:
        self.prepare_database()
        self.start_emulators()
        self.wait_healthy(EMULATORS, timeout)
        for service in SERVICES:
            self.start_service(service)
        self.wait_healthy(SERVICES, timeout)
        self.config.admin_api_key = asyncio.run(mint_admin_key(self.config))

    def _spawn(self, name: str, args: list[str], env: dict[str, str], health_url: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, *args],
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = Process(name, popen, log_path, health_url)

    def wait_healthy(self, names: tuple[str, ...] | list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            name = pending[0]
            proc = self.processes[name]
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.tail(name)}")
            if _healthy(proc.health_url):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not healthy in {timeout}s:\n{self.tail(name)}")
            time.sleep(0.1)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop a process abruptly (or with `sig`) and wait for it."""
        proc = self.processes.pop(name)
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, sig)
            proc.popen.wait(timeout=20)

    def stop_all(self) -> None:
        for name in list(self.processes):
            proc = self.processes[name]
            if proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for name in list(self.processes):
            proc = self.processes.pop(name)
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
