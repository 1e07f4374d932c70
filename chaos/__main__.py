"""`python -m chaos [--only NAME ...]`: every fault on an isolated stack, then the totals.

Exits 0 only when no work was lost, duplicated or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from chaos.faults import all_faults
from chaos.runner import isolated_stack, run_faults
from chaos.tally import summary, totals

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def main() -> None:
    faults = all_faults()
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--admin-url", default=os.environ.get("NB_TEST_DATABASE_URL", LOCAL_PG))
    parser.add_argument("--amqp-url", default=os.environ.get("NB_TEST_AMQP_URL", LOCAL_AMQP))
    parser.add_argument(
        "--only",
        action="append",
        help="run the faults whose name contains this (repeatable); "
        f"faults: {', '.join(f.name for f in faults)}",
    )
    parser.add_argument("--log-dir", type=Path, help="the services' logs (default: a temp dir)")
    args = parser.parse_args()
    chosen = [f for f in faults if not args.only or any(o in f.name for o in args.only)]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="nodebyte-chaos-"))
    print(f"chaos: {len(chosen)} faults; service logs in {log_dir}", flush=True)
    started = time.monotonic()
    stack = isolated_stack(args.admin_url, args.amqp_url, log_dir)
    tallies = asyncio.run(run_faults(stack, chosen, report=lambda line: print(line, flush=True)))
    print(summary(tallies))
    print(f"elapsed_s: {time.monotonic() - started:.0f}")
    sys.exit(0 if totals(tallies) == (0, 0, 0) else 1)


if __name__ == "__main__":
    main()
