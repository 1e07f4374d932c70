"""The mirror's row writer: only changed rows are written, only vanished rows pruned."""

from __future__ import annotations

import uuid

import asyncpg

from nodebyte_sync import store

COLUMNS = ("id", "short", "long")


async def locations(conn: asyncpg.Connection) -> dict[int, tuple[str, str | None]]:
    rows = await conn.fetch("SELECT id, short, long FROM locations ORDER BY id")
    return {r["id"]: (r["short"], r["long"]) for r in rows}


async def synced_at(conn: asyncpg.Connection) -> dict[int, object]:
    return dict(await conn.fetch("SELECT id, synced_at FROM locations"))  # type: ignore[arg-type]


async def write(conn: asyncpg.Connection, rows: list[tuple]) -> int:
    async with conn.transaction():  # the staging table empties at commit, as in a sync
        return await store.upsert_changed(conn, "locations", COLUMNS, rows)


async def test_new_and_changed_rows_are_written_and_counted_unchanged_ones_are_not(
    conn: asyncpg.Connection,
) -> None:
    assert await write(conn, []) == 0
    assert await write(conn, [(1, "a", None), (2, "b", "two"), (3, "c", "three")]) == 3
    before = await synced_at(conn)
    await conn.execute("SELECT pg_sleep(0.01)")
    # One column changed on one row, a NULL filled on another, one row as it was.
    assert await write(conn, [(1, "a", "one"), (2, "b", "2"), (3, "c", "three")]) == 2
    assert await locations(conn) == {1: ("a", "one"), 2: ("b", "2"), 3: ("c", "three")}
    after = await synced_at(conn)
    assert after[3] == before[3]  # an unchanged row is not rewritten
    assert after[1] > before[1]
    assert after[2] > before[2]
    assert await write(conn, [(1, "x", "one")]) == 1  # the first column counts too
    assert await write(conn, [(1, "x", None)]) == 1  # and a value that becomes NULL
    assert await locations(conn) == {1: ("x", None), 2: ("b", "2"), 3: ("c", "three")}


async def test_an_item_given_twice_in_one_write_is_written_once_as_last_given(
    conn: asyncpg.Connection,
) -> None:
    """The panel changed while it was paged: a row came on two pages of one batch. The
    upsert cannot touch a row twice; the later page (the newer read) is kept."""
    await write(conn, [(1, "a", "old")])
    assert await write(conn, [(1, "a", "older"), (2, "n", None), (1, "a", "new")]) == 2
    assert await write(conn, [(3, "n", "x"), (3, "n", "y")]) == 1  # a new row too
    assert await locations(conn) == {1: ("a", "new"), 2: ("n", None), 3: ("n", "y")}


async def test_prune_deletes_exactly_the_rows_not_kept_within_its_scope(
    conn: asyncpg.Connection,
) -> None:
    await write(conn, [(1, "a", None), (2, "b", None), (3, "c", None)])
    async with conn.transaction():
        pruned = await store.prune(conn, "locations", [1, 3])
    assert [r["id"] for r in pruned] == [2]
    assert set(await locations(conn)) == {1, 3}
    assert await store.prune(conn, "locations", [1, 3]) == []
    assert [r["id"] for r in await store.prune(conn, "locations", [])] in ([1, 3], [3, 1])


async def test_prune_of_servers_names_their_uuids_and_spares_rows_out_of_scope(
    conn: asyncpg.Connection,
) -> None:
    ids = {n: uuid.uuid4() for n in (1, 2, 3)}
    for n, panel_type in ((1, "pterodactyl"), (2, "pterodactyl"), (3, "local")):
        await conn.execute(
            """INSERT INTO servers (id, uuid, identifier, name, panel_type)
               VALUES ($1, $2, $3, $4, $5)""",
            n,
            ids[n],
            f"s{n}",
            f"server {n}",
            panel_type,
        )
    pruned = await store.prune(conn, "servers", [1], scope="panel_type = 'pterodactyl'")
    assert [(r["id"], r["uuid"]) for r in pruned] == [(2, ids[2])]
    assert {r["id"] for r in await conn.fetch("SELECT id FROM servers")} == {1, 3}


async def test_prune_takes_text_keys(conn: asyncpg.Connection) -> None:
    for key in ("1:a", "1:b"):
        await conn.execute(
            """INSERT INTO server_subusers (id, server_id, user_uuid, is_owner)
               VALUES ($1, 1, $2, false)""",
            key,
            uuid.uuid4(),
        )
    pruned = await store.prune(conn, "server_subusers", ["1:a"], key_type="text")
    assert [r["id"] for r in pruned] == ["1:b"]
