"""`make up`: bootstrap the database, start emulators and the six services, and wait.
`make reset`: drop the local database, broker prefix and `.stack/`, to start from empty.

python -m nodebyte_devstack [reset]     (settings from the environment: see local_stack)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import SERVICES, StackConfig
from nodebyte_devstack.local_stack import local_config, stack_dir, write_cli_settings
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.upstreams import real_upstreams

START_TIMEOUT_SECONDS = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole NodeByte stack locally")
    parser.add_argument("command", nargs="?", choices=("up", "reset"), default="up")
    args = parser.parse_args()
    if args.command == "reset":
        sys.exit(reset())
    up()


def up() -> None:
    directory = stack_dir(os.environ)
    config = local_config()
    log_dir = directory / "logs"
    stack = Stack(config, log_dir)
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        # A first start on a fresh clone compiles every module of ten processes at
        # once; on a small machine that takes longer than the tests' minute.
        stack.start_all(timeout=START_TIMEOUT_SECONDS)
        write_cli_settings(config, directory)
        _announce(config, log_dir)
        while not stop:
            for name in SERVICES:
                if stack.processes[name].popen.poll() is not None:
                    print(f"{name} exited; see {log_dir}/{name}.log", flush=True)
                    stop = True
            time.sleep(0.5)
    finally:
        stack.stop_all()


def reset() -> int:
    """Drop the database and broker topology of the local stack, and `.stack/`."""
    directory = stack_dir(os.environ)
    config = local_config()
    if _answers(config.ports["gateway"]):
        print(
            f"a stack answers on port {config.ports['gateway']}: stop `make up` first",
            file=sys.stderr,
        )
        return 1
    asyncio.run(discard_stack(config))
    shutil.rmtree(directory, ignore_errors=True)
    print(
        f"dropped database {config.database}, broker prefix {config.prefix} and {directory}/; "
        "the next `make up` starts from empty"
    )
    return 0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def _announce(config: StackConfig, log_dir: Path) -> None:
    gateway = config.url("gateway")
    real = ", ".join(u.name for u in real_upstreams(os.environ)) or "none (emulators)"
    print(
        f"""
NodeByte is up.
  API          {gateway}/api/v1   (bootstrap X-API-Key: {config.api_key}: syncs and stats)
  Admin key    {config.admin_api_key}   (scope *, minted with `nodebyte api-keys create`)
  API docs     {gateway}/schema/swagger   (OpenAPI: {gateway}/schema/openapi.json)
  Panel (emu)  {config.url("pterodactyl")}
  Discord (emu) {config.url("discord")}/_emulator/messages
  Mail (emu)   {config.url("mail")}/_emulator/messages
  Hytale (emu) {config.url("hytale")}/device   (approve the user code of a device flow)
  Real upstreams {real}
  Logs         {log_dir}/    Secrets  {log_dir.parent}/secrets.json
Try (in another terminal):
  source .venv/bin/activate && nodebyte status
Ctrl-C stops everything; `make up` again comes back with the same data.""",
        flush=True,
    )


if __name__ == "__main__":
    main()
