"""A failed outbound call as a category: what an admin may be told, never the far end's body.

Categories: `refused_address` (the egress policy refused it), `timeout`,
`tls`, `unreachable` (no connection), `http_<status>` (it answered that).
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx

from nodebyte_common.egress.httpx_transport import REFUSED
from nodebyte_common.egress.policy import EgressRefused

MESSAGES = {
    "refused_address": "the address is not allowed (private, loopback or metadata)",
    "timeout": "no answer in time",
    "tls": "the TLS handshake failed",
    "unreachable": "no connection could be made",
}


def category_of(exc: BaseException) -> str:
    if isinstance(exc, EgressRefused) or str(exc).startswith(REFUSED):
        return "refused_address"
    if isinstance(exc, TimeoutError | httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError | aiohttp.ClientSSLError):
        return "tls"
    if isinstance(exc.__cause__, EgressRefused):
        return "refused_address"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ssl.SSLError):
        return "tls"
    return "unreachable"


def http_category(status: int) -> str:
    return f"http_{status}"


def describe(category: str) -> str:
    """A fixed, human sentence for a category."""
    if category.startswith("http_"):
        return f"the server answered HTTP {category.removeprefix('http_')}"
    return MESSAGES.get(category, category)
