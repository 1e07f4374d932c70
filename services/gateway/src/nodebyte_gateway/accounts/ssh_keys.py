"""SSH public keys of accounts: parsed, fingerprinted and stored (the gateway schema).

A key is kept as its canonical line `<type> <base64>` (the comment dropped) and
found by its fingerprint, `SHA256:` and the unpadded base64 of the blob's
digest, as `ssh-keygen -l` prints it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import uuid6
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from nodebyte_common.contracts.sftp import SshKey
from nodebyte_common.envelope import ApiError

MAX_KEYS_PER_ACCOUNT = 50


@dataclass(frozen=True)
class PublicKey:
    line: str  # `<type> <base64>`
    fingerprint: str


def parse(text: str) -> PublicKey:
    """The key of an OpenSSH public key line; 400 when it is not one."""
    fields = text.strip().split()
    if len(fields) < 2:
        raise ApiError(400, "Not an OpenSSH public key (`<type> <base64> [comment]`)", "BAD_KEY")
    kind, encoded = fields[0], fields[1]
    try:
        blob = base64.b64decode(encoded, validate=True)
        load_ssh_public_key(f"{kind} {encoded}".encode())
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ApiError(400, "Not a valid or supported SSH public key", "BAD_KEY") from None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return PublicKey(f"{kind} {encoded}", f"SHA256:{digest}")


def view(row: asyncpg.Record) -> SshKey:
    return SshKey(
        id=row["id"],
        name=row["name"],
        fingerprint=row["fingerprint"],
        public_key=row["public_key"],
        created_at=row["created_at"],
    )


async def list_of(conn: asyncpg.Connection, user_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id", user_id
    )


async def add(conn: asyncpg.Connection, user_id: UUID, name: str, key: PublicKey) -> asyncpg.Record:
    """Store a key; 409 when the account has it already or has too many."""
    count = await conn.fetchval("SELECT count(*) FROM ssh_keys WHERE user_id = $1", user_id)
    if count >= MAX_KEYS_PER_ACCOUNT:
        raise ApiError(409, f"An account keeps at most {MAX_KEYS_PER_ACCOUNT} SSH keys")
    row = await conn.fetchrow(
        """INSERT INTO ssh_keys (id, user_id, name, public_key, fingerprint)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, fingerprint) DO NOTHING
           RETURNING *""",
        uuid6.uuid7(),
        user_id,
        name,
        key.line,
        key.fingerprint,
    )
    if row is None:
        raise ApiError(409, "This key is already registered", "KEY_EXISTS")
    return row


async def remove(conn: asyncpg.Connection, user_id: UUID, key_id: UUID) -> asyncpg.Record | None:
    """The removed key, or None when the account has no such key."""
    return await conn.fetchrow(
        "DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING *", key_id, user_id
    )


async def holds(conn: asyncpg.Connection, user_id: UUID, key: PublicKey) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM ssh_keys WHERE user_id = $1 AND fingerprint = $2",
        user_id,
        key.fingerprint,
    )
    return found is not None
