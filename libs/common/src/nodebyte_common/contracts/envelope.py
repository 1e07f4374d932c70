"""The success envelope every answer travels in, typed by what it carries.

`{"success": true, "data": …, "message"?: …, "pagination"?: …}`: an owner encodes
an `Answer[T]`, the gateway decodes the same type, and the OpenAPI document shows
the `data` each route really sends. Lists page the Catalyst way (`page`, `limit`,
`total`, `pages`: the node, server, template and alert resources), the NodeByte
way (`page`, `pageSize`, `total`, `totalPages`: the panel mirror and logs) or by
offset (`total`, `limit`, `offset`, `has_more`: Hytale's console log); each is
declared here once.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from uuid import UUID

import msgspec

T = TypeVar("T")


class Pages(msgspec.Struct, frozen=True, kw_only=True):
    """Catalyst's pagination: `?page=&limit=` (limit at most 100)."""

    page: int
    limit: int
    total: int
    pages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> Pages:
        return cls(page=page, limit=limit, total=total, pages=(total + limit - 1) // limit)


class SizedPages(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """NodeByte's pagination: `?page=&pageSize=` (at least one page, even when empty)."""

    page: int
    page_size: int
    total: int
    total_pages: int

    @classmethod
    def of(cls, page: int, page_size: int, total: int) -> SizedPages:
        pages = max(1, -(-total // page_size))
        return cls(page=page, page_size=page_size, total=total, total_pages=pages)


class Answer(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A success carrying `data` (and a message when there is something to say)."""

    success: bool = True
    data: T
    message: str | None = None


class PagedAnswer(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list: `data` and where it stands in the whole."""

    success: bool = True
    data: list[T]
    pagination: Pages
    message: str | None = None


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Paging by offset (`?limit=&offset=`), as the Hytale reference does."""

    total: int
    limit: int
    offset: int
    has_more: bool


class WindowAnswer(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A window of a list: `data` and where it stands in the whole."""

    success: bool = True
    data: list[T]
    pagination: Window
    message: str | None = None


class SizedPagedAnswer(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list paged the NodeByte way."""

    success: bool = True
    data: list[T]
    pagination: SizedPages
    message: str | None = None


class Nothing(msgspec.Struct, frozen=True, kw_only=True):
    """A success with nothing to carry (`data: null`): a deletion, an action accepted."""

    success: bool = True
    data: None = None
    message: str | None = None


class Deleted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID


class Empty(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The body of an action that takes no input: `{}` or none at all (anything else is a 400)."""


class Caller(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who asked, as the gateway saw them, for an owner's own audit trail (`audit` in a
    forwarded body); absent for an owner's own work."""

    ip: str | None = None
    user_agent: str | None = None
