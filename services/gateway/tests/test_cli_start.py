"""`nodebyte --help` answers at once: parsing imports none of the commands' libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HEAVY = ("litestar", "httpx", "rich", "asyncpg", "aiohttp", "nodebyte_common")


def test_parsing_arguments_imports_no_heavy_library() -> None:
    probe = (
        "import json, sys\n"
        "from nodebyte_gateway import cli\n"
        "cli.parser().parse_args(['status'])\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    loaded = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(loaded.stdout) == []


def test_help_is_printed_by_the_installed_command() -> None:
    command = os.path.join(os.path.dirname(sys.executable), "nodebyte")
    started = time.perf_counter()
    shown = subprocess.run(  # noqa: S603 - the installed console script
        [command, "--help"], capture_output=True, text=True, check=True
    )
    print(f"nodebyte --help: {time.perf_counter() - started:.2f}s")
    assert "api-keys" in shown.stdout
    assert "status" in shown.stdout
