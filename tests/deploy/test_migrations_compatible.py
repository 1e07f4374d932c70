"""Expand/contract: a release's migrations must work with the previous release's code, which
runs beside them during a rolling update (and again after `kubectl rollout undo`).

So a migration only adds (tables, nullable or defaulted columns, indexes) and backfills. A
statement that drops or renames a table or column, or changes a column's type, breaks the
previous release while it still runs: it may only appear in a *contract* file, released
after the code stopped using the name, whose first line lists every name it removes:

    -- contract: old_column, old_table

and none of those names may still appear in the service's code. (deploy/README.md,
"Migrations: expand, then contract".)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploy_files import REPO_ROOT

COMMON = REPO_ROOT / "libs" / "common" / "src" / "nodebyte_common"

# DROP TABLE t / DROP COLUMN c / RENAME COLUMN c TO d / RENAME TO t / ALTER COLUMN c TYPE
_DESTRUCTIVE = re.compile(
    r"""\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>[\w."]+)
      | \bDROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?(?P<column>[\w"]+)
      | \bRENAME\s+COLUMN\s+(?P<renamed>[\w"]+)
      | \bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<renamed_table>[\w."]+)\s+RENAME\s+TO\b
      | \bALTER\s+COLUMN\s+(?P<retyped>[\w"]+)\s+(?:SET\s+DATA\s+)?TYPE\b""",
    re.IGNORECASE | re.VERBOSE,
)
_CONTRACT = re.compile(r"--\s*contract:\s*(?P<names>.+)", re.IGNORECASE)


def removed_names(sql: str) -> set[str]:
    """The tables and columns a migration drops, renames or retypes (comments ignored)."""
    code = re.sub(r"--[^\n]*", "", sql)
    return {
        next(v for v in m.groupdict().values() if v).rsplit(".", 1)[-1].strip('"').lower()
        for m in _DESTRUCTIVE.finditer(code)
    }


def contract_names(sql: str) -> set[str]:
    first = sql.lstrip().splitlines()[0] if sql.strip() else ""
    match = _CONTRACT.fullmatch(first.strip())
    if match is None:
        return set()
    return {n.strip().lower() for n in match.group("names").split(",") if n.strip()}


def _migration_files() -> list[Path]:
    return sorted(
        [*COMMON.glob("migrations/*.sql"), *REPO_ROOT.glob("services/*/src/*/migrations/*.sql")]
    )


def _code_of(migration: Path) -> list[Path]:
    """The Python code that reads the migration's schema (all services for common ones)."""
    package = migration.parent.parent
    roots = [REPO_ROOT / "services", COMMON] if package == COMMON else [package]
    return [p for root in roots for p in root.rglob("*.py")]


@pytest.mark.parametrize("migration", _migration_files(), ids=lambda p: p.name)
def test_a_migration_removes_nothing_the_previous_release_reads(migration: Path) -> None:
    sql = migration.read_text()
    removed = removed_names(sql)
    if not removed:
        return
    declared = contract_names(sql)
    assert removed <= declared, (
        f"{migration.name} drops/renames/retypes {sorted(removed - declared)} outside a "
        "contract step: expand first (add the new name, write both), contract in a later "
        "release with `-- contract: <names>` on its first line"
    )
    for path in _code_of(migration):
        text = path.read_text()
        used = [n for n in declared if re.search(rf"\b{re.escape(n)}\b", text)]
        assert not used, f"{migration.name} removes {used}, still used in {path}"


def test_the_check_sees_what_breaks_the_previous_release() -> None:
    assert removed_names("ALTER TABLE jobs DROP COLUMN IF EXISTS cron;") == {"cron"}
    assert removed_names('DROP TABLE IF EXISTS sync."logs";') == {"logs"}
    assert removed_names("ALTER TABLE a RENAME COLUMN b TO c;") == {"b"}
    assert removed_names("ALTER TABLE runs RENAME TO job_runs;") == {"runs"}
    assert removed_names("ALTER TABLE a ALTER COLUMN b TYPE bigint;") == {"b"}
    assert removed_names("ALTER TABLE a ADD COLUMN b int; -- DROP COLUMN c later") == set()
    assert removed_names("DROP INDEX IF EXISTS a_b; CREATE INDEX a_b ON a (b);") == set()
    assert contract_names("-- contract: cron, Logs\nALTER TABLE jobs DROP COLUMN cron;") == {
        "cron",
        "logs",
    }
