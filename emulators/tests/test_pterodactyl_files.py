"""Server files through the panel's Client API, written by tests through the control API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nodebyte_emulators.pterodactyl import (
    DEFAULT_APPLICATION_KEY,
    DEFAULT_CLIENT_KEY,
    create_pterodactyl_app,
)
from nodebyte_emulators.server import BackgroundServer

HEADERS = {"Authorization": f"Bearer {DEFAULT_CLIENT_KEY}", "Accept": "application/json"}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[httpx.Client, httpx.Client, str]]:
    with (
        BackgroundServer(create_pterodactyl_app()) as url,
        httpx.Client(base_url=url) as control,
        httpx.Client(base_url=url + "/api/client/servers", headers=HEADERS) as api,
    ):
        app = {**HEADERS, "Authorization": f"Bearer {DEFAULT_APPLICATION_KEY}"}
        server = control.get("/api/application/servers/21", headers=app).json()
        yield control, api, server["attributes"]["identifier"]


def test_a_log_written_by_the_server_is_listed_and_read(
    clients: tuple[httpx.Client, httpx.Client, str],
) -> None:
    control, api, identifier = clients
    assert api.get(f"/{identifier}/files/list", params={"directory": "/logs"}).status_code == 404
    control.post("/_emulator/files/21", json={"path": "/logs/latest.log", "append": "a\n"})
    control.post("/_emulator/files/21", json={"path": "logs/latest.log", "append": "b\n"})
    listed = api.get(f"/{identifier}/files/list", params={"directory": "/logs/"}).json()
    entry = listed["data"][0]["attributes"]
    assert (entry["name"], entry["size"], entry["is_file"]) == ("latest.log", 4, True)
    content = api.get(f"/{identifier}/files/contents", params={"file": "/logs/latest.log"})
    assert content.text == "a\nb\n"
    assert content.headers["content-type"].startswith("text/plain")
    control.post("/_emulator/files/21", json={"path": "/logs/latest.log", "content": ""})
    assert api.get(f"/{identifier}/files/contents", params={"file": "/logs/latest.log"}).text == ""
    missing = api.get(f"/{identifier}/files/contents", params={"file": "/logs/none.log"})
    assert missing.status_code == 404
    escape = api.get(f"/{identifier}/files/contents", params={"file": "/../etc/passwd"})
    assert escape.status_code == 400
    control.delete("/_emulator/files/21")


def test_files_need_the_client_key(clients: tuple[httpx.Client, httpx.Client, str]) -> None:
    control, _, identifier = clients
    anonymous = control.get(
        f"/api/client/servers/{identifier}/files/list", headers={"Accept": "application/json"}
    )
    assert anonymous.status_code == 401
