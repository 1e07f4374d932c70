"""The API docs render in a browser with no internet: Swagger UI and Redoc load their
scripts and styles from the gateway itself.

Headless Chromium (Debian `chromium`) is told that every host but 127.0.0.1 does not
exist, opens Swagger UI, and must show the operations of the OpenAPI document, on a
screenshot that is not blank. Redoc's page must name only assets the gateway serves.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import httpx
import pytest

from nodebyte_devstack.processes import Stack

# A browser start alone takes 10-40 s on a loaded two-core machine.
pytestmark = pytest.mark.timeout(400)
OFFLINE = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    program = shutil.which("chromium") or shutil.which("chromium-browser")
    if program is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (.ci/run does)")
    return subprocess.run(  # noqa: S603 - the browser, with our own arguments
        [
            program,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--host-resolver-rules={OFFLINE}",
            "--virtual-time-budget=15000",  # let the page's scripts fetch and render
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def png_rows(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (filtered) scanlines of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


def test_swagger_renders_every_operation_offline(stack: Stack, tmp_path: Path) -> None:
    page = f"{stack.config.url('gateway')}/schema/swagger"
    dom = chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    operations = re.findall(r'class="opblock opblock-(get|post|put|patch|delete)', dom.stdout)
    assert len(operations) >= 5, dom.stdout[:2000]
    assert "/api/v1/sync/full" in dom.stdout

    shot = tmp_path / "swagger.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,1600", page)
    assert taken.returncode == 0, taken.stderr[-2000:]
    width, height, pixels = png_rows(shot)
    assert (width, height) == (1280, 1600)
    # A blank page is one colour: its filtered scanlines are all one byte value but
    # for a filter byte per row (0.03%). Text and coloured bars make every value show
    # up, and a few percent of the bytes differ (2.5% for the page when it renders).
    commonest = max(set(pixels), key=pixels.count)
    assert len(set(pixels)) > 100
    assert 1 - pixels.count(commonest) / len(pixels) > 0.005


async def test_redoc_page_loads_only_the_gateways_assets(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as client:
        page = (await client.get("/schema/redoc")).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources
        assert all(url.startswith("/schema-assets/") for url in sources), sources
        for url in sources:
            asset = await client.get(url)
            assert asset.status_code == 200, url
        assert "Redoc.init" in page or "<redoc" in page
        script = await client.get("/schema-assets/redoc/redoc.standalone.js")
        assert script.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
