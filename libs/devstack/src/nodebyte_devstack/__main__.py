"""`make up`: bootstrap the database, start emulators and the six services, and wait.

python -m nodebyte_devstack [--servers N ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from nodebyte_devstack.config import SERVICES, StackConfig
from nodebyte_devstack.processes import Stack


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole NodeByte stack locally")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "NB_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--database", default=os.environ.get("NB_DATABASE", "nodebyte"))
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--api-key", default=os.environ.get("BACKEND_API_KEY", "nbk_local_dev_key"))
    parser.add_argument("--log-dir", default=".stack/logs")
    args = parser.parse_args()

    config = StackConfig(
        admin_dsn=args.admin_url,
        database=args.database,
        amqp_url=args.amqp_url,
        api_key=args.api_key,
    )
    stack = Stack(config, Path(args.log_dir))
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start_all()
        _announce(config, args.log_dir)
        while not stop:
            for name in SERVICES:
                if stack.processes[name].popen.poll() is not None:
                    print(f"{name} exited; see {args.log_dir}/{name}.log", flush=True)
                    stop = True
            time.sleep(0.5)
    finally:
        stack.stop_all()


def _announce(config: StackConfig, log_dir: str) -> None:
    gateway = config.url("gateway")
    print(
        f"""
NodeByte is up.
  API          {gateway}/api/v1   (X-API-Key: {config.api_key})
  API docs     {gateway}/schema/swagger   (OpenAPI: {gateway}/schema/openapi.json)
  Panel (emu)  {config.url("pterodactyl")}
  Discord (emu) {config.url("discord")}/_emulator/messages
  Hytale (emu) {config.url("hytale")}/device   (approve the user code of a device flow)
  Logs         {log_dir}/
Try:
  curl -X POST {gateway}/api/v1/sync/full -H 'X-API-Key: {config.api_key}' \\
       -H 'Content-Type: application/json' -d '{{"requested_by":"me"}}'
Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    main()
