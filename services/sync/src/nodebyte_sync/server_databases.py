"""Servers' databases when the panel leaves `include=databases` out.

Asked for it, a panel puts a server's databases inside `relationships.databases`.
One that leaves them out (or a key that may not read them, which gets a
`null_resource`) would leave the mirror without any database. Such a page gets
each server's databases from `/servers/{id}/databases` instead, put where the
include would have put them: the step then reads them as usual, and the page's
digest covers them, so a database changed on the panel is written again.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec

from nodebyte_common.pterodactyl import PanelClient, RawPage

INCLUDE = "include"  # how the sync log says where the databases came from
ENDPOINT = "endpoint"
# A rendered include, as the panel encodes it. A quote inside a JSON string is
# escaped, so no attribute value can look like this.
_RENDERED = re.compile(rb'"databases":\s*\{\s*"object":\s*"list"')


def rendered(page: RawPage) -> bool:
    """Whether the page's servers carry their databases (an empty page needs none)."""
    return page.data.strip() == b"[]" or _RENDERED.search(page.data) is not None


async def filled(panel: PanelClient, page: RawPage, slots: asyncio.Semaphore) -> RawPage:
    """The page with each server's databases read from the per-server endpoint."""
    entries: list[dict[str, Any]] = msgspec.json.decode(page.data)

    async def databases(server_id: int) -> dict[str, Any]:  # the panel's list document
        async with slots:
            body = await panel.body("application", f"/servers/{server_id}/databases")
        return msgspec.json.decode(body)

    listed = await asyncio.gather(*(databases(e["attributes"]["id"]) for e in entries))
    for entry, found in zip(entries, listed, strict=True):
        attributes = entry["attributes"]
        related = attributes.get("relationships") or {}
        attributes["relationships"] = {**related, "databases": found}
    return msgspec.structs.replace(page, data=msgspec.json.encode(entries))
