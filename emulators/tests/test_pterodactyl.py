"""The Pterodactyl emulator over real HTTP: wire format, auth, faults, control API, writes."""

import time
from collections.abc import Iterator

import httpx
import pytest

from nodebyte_emulators.pterodactyl import (
    DEFAULT_APPLICATION_KEY,
    DEFAULT_CLIENT_KEY,
    create_pterodactyl_app,
)
from nodebyte_emulators.server import BackgroundServer

JSON = {"Accept": "application/json"}
SERVER_FIELDS = {
    "id", "external_id", "uuid", "identifier", "name", "description", "status", "suspended",
    "limits", "feature_limits", "user", "node", "allocation", "nest", "egg", "container",
    "created_at", "updated_at",
}  # fmt: skip


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(create_pterodactyl_app()) as url:
        yield url


@pytest.fixture(scope="module")
def clients(base_url: str) -> Iterator[dict[str, httpx.Client]]:
    """Shared clients: building an httpx.Client costs tens of milliseconds."""

    def keyed(key: str) -> dict[str, str]:
        return {**JSON, "Authorization": f"Bearer {key}"}

    made = {
        "control": httpx.Client(base_url=f"{base_url}/_emulator", timeout=10),
        "bare": httpx.Client(base_url=base_url, timeout=5),
        "app": httpx.Client(
            base_url=f"{base_url}/api/application", headers=keyed(DEFAULT_APPLICATION_KEY)
        ),
        "client": httpx.Client(
            base_url=f"{base_url}/api/client", headers=keyed(DEFAULT_CLIENT_KEY)
        ),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def control(clients: dict[str, httpx.Client]) -> Iterator[httpx.Client]:
    """Client for /_emulator; every test starts and ends with a pristine panel."""
    client = clients["control"]
    client.post("/reset")
    yield client
    client.delete("/faults")
    client.post("/settings", json={"rate_limit": False, "application_limit": 240})
    client.post("/reset")


@pytest.fixture
def app_api(clients: dict[str, httpx.Client], control: httpx.Client) -> httpx.Client:
    return clients["app"]


@pytest.fixture
def client_api(clients: dict[str, httpx.Client], control: httpx.Client) -> httpx.Client:
    return clients["client"]


@pytest.fixture
def bare(clients: dict[str, httpx.Client], control: httpx.Client) -> httpx.Client:
    """No default headers, for the authentication checks."""
    return clients["bare"]


def test_pagination_envelope_and_links(app_api: httpx.Client, base_url: str) -> None:
    first = app_api.get("/servers", params={"per_page": 15}).json()
    assert first["object"] == "list"
    assert set(first["data"][0]) == {"object", "attributes"}
    assert first["data"][0]["object"] == "server"
    assert set(first["data"][0]["attributes"]) == SERVER_FIELDS
    assert first["meta"]["pagination"] == {
        "total": 40,
        "count": 15,
        "per_page": 15,
        "current_page": 1,
        "total_pages": 3,
        "links": {"next": f"{base_url}/api/application/servers?page=2"},
    }
    middle = app_api.get("/servers", params={"per_page": 15, "page": 2}).json()
    assert set(middle["meta"]["pagination"]["links"]) == {"previous", "next"}
    last = app_api.get("/servers", params={"per_page": 15, "page": 3}).json()
    assert last["meta"]["pagination"]["count"] == 10
    assert set(last["meta"]["pagination"]["links"]) == {"previous"}
    single = app_api.get("/servers", params={"per_page": 1000}).json()
    assert single["meta"]["pagination"]["links"] == {}
    assert len(single["data"]) == 40
    assert app_api.get("/servers").json()["meta"]["pagination"]["per_page"] == 50


def test_timestamps_and_variables_formats(app_api: httpx.Client) -> None:
    server = app_api.get("/servers/1", params={"include": "variables"}).json()["attributes"]
    assert server["created_at"].endswith("+00:00")
    variable = server["relationships"]["variables"]["data"][0]
    assert variable["object"] == "server_variable"
    assert variable["attributes"]["created_at"].endswith(".000000Z")
    assert "server_value" in variable["attributes"]


def test_includes_live_inside_attributes(app_api: httpx.Client) -> None:
    body = app_api.get("/servers", params={"include": "allocations,user,egg,databases"}).json()
    for entry in body["data"]:
        assert set(entry) == {"object", "attributes"}
        relationships = entry["attributes"]["relationships"]
        allocations = relationships["allocations"]
        assert allocations["object"] == "list"
        ids = [a["attributes"]["id"] for a in allocations["data"]]
        assert entry["attributes"]["allocation"] in ids
        assert all(a["attributes"]["assigned"] for a in allocations["data"])
        assert relationships["user"]["object"] == "user"
        assert relationships["egg"]["attributes"]["id"] == entry["attributes"]["egg"]
    eggs = app_api.get("/nests/1/eggs", params={"include": "variables"}).json()
    variables = eggs["data"][0]["attributes"]["relationships"]["variables"]
    assert 1 <= len(variables["data"]) <= 4
    assert variables["data"][0]["object"] == "egg_variable"
    plain = app_api.get("/servers").json()["data"][0]["attributes"]
    assert "relationships" not in plain


def test_unpaginated_lists_have_no_meta(app_api: httpx.Client, control: httpx.Client) -> None:
    eggs = app_api.get("/nests/1/eggs").json()
    assert eggs["object"] == "list"
    assert "meta" not in eggs
    database = control.get("/dataset").json()["databases"][0]
    body = app_api.get(f"/servers/{database['server']}/databases").json()
    assert "meta" not in body
    assert body["data"][0]["object"] == "server_database"


def test_errors_use_the_panel_format(app_api: httpx.Client) -> None:
    response = app_api.get("/servers/99999")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [
            {
                "code": "NotFoundHttpException",
                "status": "404",
                "detail": "The requested resource could not be found on the server.",
            }
        ]
    }
    bad_filter = app_api.get("/users", params={"filter[nope]": "x"})
    assert bad_filter.status_code == 400
    assert bad_filter.json()["errors"][0]["code"] == "InvalidFilterQuery"


def test_authentication(bare: httpx.Client, base_url: str) -> None:
    servers = "/api/application/servers"
    missing = bare.get(servers, headers=JSON)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["code"] == "AuthenticationException"
    assert missing.headers["x-ratelimit-limit"] == "240"
    wrong = bare.get(servers, headers={**JSON, "Authorization": "Bearer ptla_wrong"})
    assert wrong.status_code == 401
    redirect = bare.get(servers)
    assert redirect.status_code == 302
    assert redirect.headers["location"] == f"{base_url}/auth/login"
    client_key = {**JSON, "Authorization": f"Bearer {DEFAULT_CLIENT_KEY}"}
    assert bare.get(servers, headers=client_key).status_code == 403
    app_key = {**JSON, "Authorization": f"Bearer {DEFAULT_APPLICATION_KEY}"}
    assert bare.get("/api/client", headers=app_key).status_code == 403
    assert bare.get("/api/client", headers=client_key).status_code == 200
    ok = bare.get(servers, headers=app_key)
    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-remaining"] == "239"
    assert len(DEFAULT_APPLICATION_KEY) == len(DEFAULT_CLIENT_KEY) == 48


def test_rate_limit_fault_then_recovery(app_api: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"rate_limit_next": 2, "retry_after": 3})
    for _ in range(2):
        response = app_api.get("/nodes")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.json()["errors"][0] == {
            "code": "ThrottleRequestsException",
            "status": "429",
            "detail": "Too Many Attempts.",
        }
    assert app_api.get("/nodes").status_code == 200


def test_server_error_fault(app_api: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"error_next": 1, "error_status": 503})
    failed = app_api.get("/locations")
    assert failed.status_code == 503
    assert failed.json()["errors"][0]["status"] == "503"
    assert app_api.get("/locations").status_code == 200


def test_latency_and_hang_faults(app_api: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"latency_ms": 150})
    started = time.monotonic()
    assert app_api.get("/locations").status_code == 200
    assert time.monotonic() - started >= 0.15
    control.post("/faults", json={"latency_ms": 0, "hang_next": 1})
    with pytest.raises(httpx.ReadTimeout):
        app_api.get("/locations", timeout=0.3)
    assert app_api.get("/locations").status_code == 200


def test_real_limiter(app_api: httpx.Client, control: httpx.Client) -> None:
    control.post("/settings", json={"rate_limit": True, "application_limit": 3})
    remaining = [app_api.get("/nests").headers["x-ratelimit-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    throttled = app_api.get("/nests")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60


def test_dataset_mutations_are_visible(app_api: httpx.Client, control: httpx.Client) -> None:
    dataset = control.get("/dataset").json()
    assert dataset["keys"]["application"] == DEFAULT_APPLICATION_KEY
    server = dataset["servers"][4]
    assert control.delete(f"/servers/{server['id']}").status_code == 204
    assert app_api.get(f"/servers/{server['id']}").status_code == 404
    assert app_api.get("/servers").json()["meta"]["pagination"]["total"] == 39
    freed = app_api.get(f"/nodes/{server['node']}/allocations", params={"per_page": 500}).json()
    assert server["allocation"] in [a["attributes"]["id"] for a in freed["data"]]
    assert not any(
        a["attributes"]["assigned"]
        for a in freed["data"]
        if a["attributes"]["id"] == server["allocation"]
    )
    control.patch("/servers/1", json={"name": "renamed", "limits": {"memory": 512}})
    renamed = app_api.get("/servers/1").json()["attributes"]
    assert (renamed["name"], renamed["limits"]["memory"], renamed["limits"]["swap"]) == (
        "renamed",
        512,
        0,
    )
    added = control.post("/servers", json={"name": "added", "node": 2}).json()
    fetched = app_api.get(f"/servers/{added['id']}", params={"include": "allocations"}).json()
    allocation = fetched["attributes"]["relationships"]["allocations"]["data"][0]["attributes"]
    assert (fetched["attributes"]["name"], allocation["assigned"]) == ("added", True)
    assert control.delete("/nodes/1").status_code == 204
    remaining = control.get("/dataset").json()
    assert all(s["node"] != 1 for s in remaining["servers"])
    assert all(a["node_id"] != 1 for a in remaining["allocations"])
    control.post("/reset")
    assert app_api.get("/servers").json()["meta"]["pagination"]["total"] == 40


def test_a_moved_row_changes_place_in_every_page_of_its_listing(
    app_api: httpx.Client, control: httpx.Client
) -> None:
    def listed() -> list[int]:
        body = app_api.get("/servers", params={"per_page": 100}).json()
        return [s["attributes"]["id"] for s in body["data"]]

    before = listed()
    assert control.post(f"/servers/{before[0]}/move", json={}).status_code == 204
    assert listed() == [*before[1:], before[0]]
    second_page = app_api.get("/servers", params={"per_page": 10, "page": 2}).json()
    assert second_page["data"][0]["attributes"]["id"] == before[11]  # all shifted by one
    moved = control.post(f"/servers/{before[0]}/move", json={"before": before[1]})
    assert moved.status_code == 204
    assert listed() == before
    assert control.post("/servers/999999/move", json={}).status_code == 404
    assert control.post(f"/servers/{before[0]}/move", json={"before": 999999}).status_code == 404
    assert control.post(f"/servers/{before[0]}/move", json={"after": 1}).status_code == 422


def _pushable_server(control: httpx.Client) -> dict:
    """Server 11 runs the Hytale egg; make sure it is installed and its node is up."""
    server = control.patch("/servers/11", json={"status": None}).json()
    control.patch(f"/nodes/{server['node']}", json={"maintenance_mode": False})
    return server


def test_startup_variable_push_rules(
    client_api: httpx.Client, app_api: httpx.Client, control: httpx.Client
) -> None:
    server = _pushable_server(control)
    path = f"/servers/{server['identifier']}/startup/variable"
    pushed = client_api.put(path, json={"key": "HYTALE_SERVER_SESSION_TOKEN", "value": "sess-1"})
    assert pushed.status_code == 200
    body = pushed.json()
    assert body["object"] == "egg_variable"
    assert body["attributes"]["server_value"] == "sess-1"
    assert "startup_command" in body["meta"]
    environment = app_api.get(f"/servers/{server['id']}").json()["attributes"]["container"]
    assert environment["environment"]["HYTALE_SERVER_SESSION_TOKEN"] == "sess-1"

    read_only = client_api.put(path, json={"key": "HYTALE_PATCHLINE", "value": "release"})
    assert read_only.status_code == 400
    assert read_only.json()["errors"][0]["detail"].endswith("is read-only.")
    unknown = client_api.put(path, json={"key": "NOPE", "value": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["detail"].endswith("does not exist.")
    invalid = client_api.put(path, json={"key": "HYTALE_SERVER_SESSION_TOKEN", "value": 5})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["meta"] == {"source_field": "value", "rule": "string"}
    by_uuid = f"/servers/{server['uuid']}/startup/variable"
    assert client_api.put(
        by_uuid, json={"key": "HYTALE_SERVER_IDENTITY_TOKEN", "value": "id"}
    ).is_success

    control.patch(f"/nodes/{server['node']}", json={"maintenance_mode": True})
    assert (
        client_api.put(path, json={"key": "HYTALE_SERVER_SESSION_TOKEN", "value": "x"}).status_code
        == 409
    )
    control.patch(f"/nodes/{server['node']}", json={"maintenance_mode": False})
    for status in ("suspended", "installing"):
        control.patch("/servers/11", json={"status": status})
        conflict = client_api.put(path, json={"key": "HYTALE_SERVER_SESSION_TOKEN", "value": "x"})
        assert conflict.status_code == 409
        assert conflict.json()["errors"][0]["code"] == "ServerStateConflictException"


def test_admin_startup_patch_replaces_environment(
    app_api: httpx.Client, control: httpx.Client
) -> None:
    server = _pushable_server(control)
    body = {
        "startup": "java -jar HytaleServer.jar",
        "environment": {"HYTALE_SERVER_SESSION_TOKEN": "s", "HYTALE_PATCHLINE": "release"},
        "egg": 1,
        "image": "ghcr.io/nodebyte/hytale:latest",
        "skip_scripts": False,
    }
    response = app_api.patch(f"/servers/{server['id']}/startup", json=body)
    assert response.status_code == 200
    environment = response.json()["attributes"]["container"]["environment"]
    assert environment["HYTALE_SERVER_SESSION_TOKEN"] == "s"
    assert environment["HYTALE_SERVER_IDENTITY_TOKEN"] == ""  # left out: wiped
    assert environment["STARTUP"] == "java -jar HytaleServer.jar"
    missing = app_api.patch(f"/servers/{server['id']}/startup", json={"environment": {}})
    assert missing.status_code == 422
    fields = {e["meta"]["source_field"] for e in missing.json()["errors"]}
    assert fields == {"startup", "egg", "image", "skip_scripts"}
    bad_variable = {**body, "environment": {"HYTALE_PATCHLINE": "nightly"}}
    rejected = app_api.patch(f"/servers/{server['id']}/startup", json=bad_variable)
    assert rejected.json()["errors"][0]["meta"] == {
        "source_field": "environment.HYTALE_PATCHLINE",
        "rule": "in",
    }


def test_node_patch_sets_maintenance(app_api: httpx.Client) -> None:
    node = app_api.get("/nodes/2").json()["attributes"]
    fields = ("name", "location_id", "fqdn", "scheme", "memory", "memory_overallocate", "disk",
              "disk_overallocate", "daemon_sftp", "daemon_listen")  # fmt: skip
    body = {field: node[field] for field in fields}
    updated = app_api.patch("/nodes/2", json={**body, "maintenance_mode": True})
    assert updated.status_code == 200
    assert app_api.get("/nodes/2").json()["attributes"]["maintenance_mode"] is True
    partial = app_api.patch("/nodes/2", json={"maintenance_mode": False})
    assert partial.status_code == 422


def test_client_listing_and_subusers(client_api: httpx.Client, control: httpx.Client) -> None:
    params = {"type": "admin-all", "per_page": 500}
    listing = client_api.get("", params=params).json()
    pagination = listing["meta"]["pagination"]
    assert (pagination["per_page"], pagination["total"], pagination["links"]) == (100, 40, {})
    relationships = listing["data"][0]["attributes"]["relationships"]
    assert set(relationships) == {"allocations", "variables"}
    paged = client_api.get("", params={**params, "per_page": 10, "include": "subusers"}).json()
    assert "type=admin-all" in paged["meta"]["pagination"]["links"]["next"]
    assert "subusers" in paged["data"][0]["attributes"]["relationships"]
    subuser = control.get("/dataset").json()["subusers"][0]
    server = control.get("/dataset").json()["servers"][subuser["server_id"] - 1]
    control.patch(f"/servers/{server['id']}", json={"status": None})
    control.patch(f"/nodes/{server['node']}", json={"maintenance_mode": False})
    users = client_api.get(f"/servers/{server['identifier']}/users").json()
    assert "meta" not in users
    assert users["data"][0]["object"] == "server_subuser"
    assert {
        "uuid",
        "username",
        "email",
        "image",
        "2fa_enabled",
        "created_at",
        "permissions",
    } == set(users["data"][0]["attributes"])


def test_filters_sort_and_stats(app_api: httpx.Client, control: httpx.Client) -> None:
    control.delete("/stats")
    admins = app_api.get("/users", params={"filter[username]": "admin"}).json()
    assert [u["attributes"]["id"] for u in admins["data"]] == [1]
    newest = app_api.get("/servers", params={"sort": "-id", "per_page": 1}).json()
    assert newest["data"][0]["attributes"]["id"] == 40
    stats = control.get("/stats").json()
    assert stats["total"] == 2
    assert stats["paths"] == {"/api/application/users": 1, "/api/application/servers": 1}


def test_server_resources_as_the_stats_transformer_renders_them(
    client_api: httpx.Client, control: httpx.Client
) -> None:
    dataset = control.get("/dataset").json()
    running = next(s for s in dataset["servers"] if s["status"] is None)
    by_identifier = client_api.get(f"/servers/{running['identifier']}/resources")
    assert by_identifier.status_code == 200
    body = by_identifier.json()
    assert body["object"] == "stats"
    assert set(body["attributes"]) == {"current_state", "is_suspended", "resources"}
    assert set(body["attributes"]["resources"]) == {
        "memory_bytes", "cpu_absolute", "disk_bytes", "network_rx_bytes", "network_tx_bytes",
        "uptime",
    }  # fmt: skip
    assert client_api.get(f"/servers/{running['uuid']}/resources").json() == body
    assert client_api.get("/servers/nope1234/resources").status_code == 404
    suspended = next(s for s in dataset["servers"] if s["status"] == "suspended")
    conflict = client_api.get(f"/servers/{suspended['identifier']}/resources")
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "ServerStateConflictException"


def test_databases_include_can_be_left_out(app_api: httpx.Client, control: httpx.Client) -> None:
    try:
        assert control.post("/settings", json={"databases_include": "omitted"}).status_code == 200
        page = app_api.get("/servers", params={"include": "allocations,databases"}).json()
        related = [s["attributes"]["relationships"] for s in page["data"]]
        assert all("databases" not in r and "allocations" in r for r in related)
        listed = app_api.get("/servers/1/databases").json()
        assert listed["object"] == "list"
        assert "meta" not in listed
    finally:
        control.post("/settings", json={"databases_include": "rendered"})
    page = app_api.get("/servers", params={"include": "databases"}).json()
    assert all("databases" in s["attributes"]["relationships"] for s in page["data"])
