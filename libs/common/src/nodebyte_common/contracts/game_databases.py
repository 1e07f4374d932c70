"""Database hosts (MySQL/MariaDB servers an admin registers) and game servers' databases.

The node-agent-gateway owns both; the gateway checks permissions, validates the
same bodies and relays these answers. A host's admin password goes in once and
never comes out; a database user's password comes out once, in the answer that
creates it or rotates it, and is kept nowhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

# What a caller may name a database: joined to the server's short id on the host
# (`s<8 hex>_<name>`, at most 58 characters of MySQL's 64) and used as an identifier.
DATABASE_NAME = r"^[A-Za-z0-9_]{1,48}$"
HOST_ADDRESS = r"^[A-Za-z0-9.:\[\]-]+$"

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=HOST_ADDRESS)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
AdminUser = Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f]+$")]
AdminPassword = Annotated[str, msgspec.Meta(max_length=256, pattern=r"^[^\x00]*$")]
DatabaseName = Annotated[str, msgspec.Meta(pattern=DATABASE_NAME)]
LocationId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class DatabaseHostCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Register a MySQL/MariaDB server with an account that may create databases and users."""

    name: Label
    host: Address
    username: AdminUser
    password: AdminPassword
    port: Port = 3306
    node_id: UUID | None = None  # the node whose servers it is meant for
    location_id: LocationId | None = None


class DatabaseHost(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    name: str
    host: str
    port: int
    username: str
    node_id: UUID | None
    location_id: str | None
    database_count: int
    created_at: datetime


class GameDatabaseCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    host_id: UUID
    name: DatabaseName


class GameDatabase(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """A server's database as listed: where it is and who connects, never a password."""

    id: UUID
    server_id: UUID
    name: str  # the database's name on the host (`s<server>_<name>`)
    username: str
    host: str
    port: int
    host_id: UUID
    host_name: str
    created_at: datetime
    password_rotated_at: datetime | None = None


class GameDatabaseCredentials(GameDatabase, frozen=True, kw_only=True):
    """A database with its user's password: only in the create and rotate answers."""

    password: str


class DatabaseHostAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    data: DatabaseHost
    message: str | None = None


class DatabaseHostsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    data: list[DatabaseHost]


class GameDatabasesAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    data: list[GameDatabase]


class GameDatabaseCredentialsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    data: GameDatabaseCredentials
    message: str | None = None


class Deleted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID


class DeletedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: bool
    data: Deleted
    message: str | None = None
