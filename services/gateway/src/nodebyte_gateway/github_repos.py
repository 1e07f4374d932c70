"""The GitHub repositories of the admin settings: "owner/name" checked by GitHub's rules."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import uuid6

from nodebyte_common.envelope import ApiError
from nodebyte_gateway.schemas import GithubRepo

# Owner: 1-39 letters, digits or hyphens, not starting or ending with a hyphen.
# Name: 1-100 of letters, digits, ".", "_" and "-", but not "." or "..".
REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}$")
FORMAT = (
    "A repository is owner/name: an owner of 1-39 letters, digits or inner hyphens, "
    "a name of 1-100 letters, digits, '.', '_' or '-'"
)


def checked(value: Any, field: str = "repo") -> str:
    """`value` as a repository name, or a 400 naming the field."""
    repo = value.strip() if isinstance(value, str) else None
    if not repo or not REPO.match(repo) or repo.split("/", 1)[1] in (".", ".."):
        raise ApiError(400, f"{field}: {FORMAT}", details={"field": field})
    return repo


def view(row: asyncpg.Record) -> GithubRepo:
    return GithubRepo(
        repo=row["repo"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
    )


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM github_repos ORDER BY lower(repo)")


async def find(conn: asyncpg.Connection, repo: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM github_repos WHERE lower(repo) = lower($1)", repo)


async def add(conn: asyncpg.Connection, repo: str, created_by: str | None) -> asyncpg.Record:
    """The new row (409 when the repository is listed already)."""
    row = await conn.fetchrow(
        """INSERT INTO github_repos (id, repo, created_by) VALUES ($1, $2, $3)
           ON CONFLICT (lower(repo)) DO NOTHING RETURNING *""",
        uuid6.uuid7(),
        repo,
        created_by,
    )
    if row is None:
        raise ApiError(409, f"{repo} is already listed")
    return row


async def rename(conn: asyncpg.Connection, old: str, new: str) -> tuple[asyncpg.Record, Any]:
    """(row before, row after); 404 without `old`, 409 when `new` is another listed repo."""
    before = await conn.fetchrow(
        "SELECT * FROM github_repos WHERE lower(repo) = lower($1) FOR UPDATE", old
    )
    if before is None:
        raise ApiError(404, f"{old} is not listed")
    try:
        after = await conn.fetchrow(
            "UPDATE github_repos SET repo = $2, updated_at = now() WHERE id = $1 RETURNING *",
            before["id"],
            new,
        )
    except asyncpg.UniqueViolationError:
        raise ApiError(409, f"{new} is already listed") from None
    return before, after


async def remove(conn: asyncpg.Connection, repo: str) -> asyncpg.Record:
    """The deleted row (404 when it was not listed)."""
    row = await conn.fetchrow(
        "DELETE FROM github_repos WHERE lower(repo) = lower($1) RETURNING *", repo
    )
    if row is None:
        raise ApiError(404, f"{repo} is not listed")
    return row
