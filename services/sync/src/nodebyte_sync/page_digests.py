"""Skip panel pages whose content the mirror already holds.

A page that is written records, in the same transaction as its rows, a digest of
its raw items (with the page's key and the step's mapping version) and the ids it
put in each mirror table. A later sync fetching a page with the same digest takes
those ids for the prune and neither decodes nor writes the page.

Why a record can be trusted: only the sync writes the mirror (one at a time,
under the mirror lock), and after a step it prunes every row no page of the run
gave while dropping the records of the pages the run did not see. That holds
only for a step a run finished with every item on one page, so a step's records
are distrusted when a run starts it and trusted again only when a run finishes
it; if an item appeared on two pages (the panel changed under the paging), the
records are dropped and the next run writes every page again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from nodebyte_sync.page_fetcher import ListRequest


@dataclass(frozen=True)
class PageRecord:
    digest: bytes
    items: int
    seen: dict[str, list[Any]]  # mirror table (and "links") -> what the page gave it


def page_key(request: ListRequest, number: int, per_page: int) -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(request.params.items()))
    paging = f"&page={number}&per_page={per_page}" if request.paginated else ""
    return f"{request.api}:{request.path}?{query}{paging}"


def digest_of(version: bytes, key: str, data: bytes) -> bytes:
    hasher = hashlib.blake2b(version, digest_size=16)
    hasher.update(key.encode())
    hasher.update(b"\0")
    hasher.update(data)
    return hasher.digest()


async def load(conn: asyncpg.Connection, step: str) -> dict[str, PageRecord]:
    """The step's records if the last run finished the step; distrusted from now on."""
    trusted = await conn.fetchval("SELECT trusted FROM sync_step_digests WHERE step = $1", step)
    await conn.execute(
        """INSERT INTO sync_step_digests (step, trusted) VALUES ($1, false)
           ON CONFLICT (step) DO UPDATE SET trusted = false""",
        step,
    )
    if not trusted:
        return {}
    rows = await conn.fetch(
        "SELECT page_key, digest, items, seen FROM sync_page_digests WHERE step = $1", step
    )
    return {r["page_key"]: PageRecord(r["digest"], r["items"], r["seen"]) for r in rows}


async def save(
    conn: asyncpg.Connection, step: str, records: Sequence[tuple[str, PageRecord]]
) -> None:
    if not records:
        return
    await conn.executemany(
        """INSERT INTO sync_page_digests (step, page_key, digest, items, seen)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (step, page_key) DO UPDATE
           SET digest = excluded.digest, items = excluded.items, seen = excluded.seen""",
        [(step, key, r.digest, r.items, r.seen) for key, r in records],
    )


async def settle(conn: asyncpg.Connection, step: str, keep: Sequence[str]) -> None:
    """After the step's prune: keep only the records of `keep`, and trust them."""
    await conn.execute(
        "DELETE FROM sync_page_digests WHERE step = $1 AND NOT (page_key = ANY($2::text[]))",
        step,
        list(keep),
    )
    await conn.execute("UPDATE sync_step_digests SET trusted = true WHERE step = $1", step)
