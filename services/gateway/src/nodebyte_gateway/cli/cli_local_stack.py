"""The local stack's settings for the CLI: `make up` writes them to `.stack/cli.json`.

Used only when DATABASE_URL is not set, and never over a variable that is set,
so a deployment's environment always wins. The file is looked for in
NB_STACK_DIR, else in `.stack/` of the current directory or the nearest parent
that has one (the repository's root, from any of its folders).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CLI_SETTINGS_FILE = "cli.json"


def local_settings_file() -> Path | None:
    if explicit := os.environ.get("NB_STACK_DIR"):
        path = Path(explicit) / CLI_SETTINGS_FILE
        return path if path.is_file() else None
    here = Path.cwd()
    for folder in (here, *here.parents):
        path = folder / ".stack" / CLI_SETTINGS_FILE
        if path.is_file():
            return path
    return None


def apply_local_settings() -> Path | None:
    """Fill unset variables from the local stack's file; the file used, if any."""
    if os.environ.get("DATABASE_URL"):
        return None
    path = local_settings_file()
    if path is None:
        return None
    for name, value in json.loads(path.read_text()).items():
        if not os.environ.get(name):
            os.environ[name] = value
    return path
