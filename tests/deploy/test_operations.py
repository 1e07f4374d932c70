"""What a platform team runs prod with: backups and a rendered restore, the Pooler and the
connection budget, the way in (Ingress), who may talk to whom, an identity per service."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from deploy_files import REPO_ROOT, objects, render_overlay
from test_kubernetes import resolved_environment

from nodebyte_devstack.config import SERVICES

README = (REPO_ROOT / "deploy" / "README.md").read_text()
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def _cluster(overlay: str = "prod") -> dict[str, Any]:
    (cluster,) = objects(overlay, "Cluster").values()
    return cluster


# --- backups and restore -----------------------------------------------------------------


def test_postgres_archives_wal_and_backs_up_daily_to_an_object_store() -> None:
    cluster = _cluster()
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    assert store["endpointURL"].startswith("https://")
    credentials = store["s3Credentials"]
    secret = credentials["accessKeyId"]["name"]
    assert credentials["secretAccessKey"]["name"] == secret
    for key in (credentials["accessKeyId"]["key"], credentials["secretAccessKey"]["key"]):
        assert key in README, f"deploy/README.md does not document {secret}/{key}"
    assert f"`{secret}`" in README
    assert cluster["spec"]["backup"]["retentionPolicy"]
    (scheduled,) = objects("prod", "ScheduledBackup").values()
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore"
    _seconds, minutes, hours, day, month, weekday = scheduled["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*"), "a base backup every day"
    assert hours.isdigit()
    assert minutes.isdigit()


def test_the_restore_overlay_recovers_prod_from_its_own_archive_to_a_point_in_time() -> None:
    prod, restored = _cluster("prod"), _cluster("restore")
    bootstrap = restored["spec"]["bootstrap"]
    assert "initdb" not in bootstrap
    recovery = bootstrap["recovery"]
    assert recovery["recoveryTarget"]["targetTime"]
    assert recovery["database"] == prod["spec"]["bootstrap"]["initdb"]["database"]
    (source,) = (c for c in restored["spec"]["externalClusters"] if c["name"] == recovery["source"])
    origin = prod["spec"]["backup"]["barmanObjectStore"]
    archive = source["barmanObjectStore"]
    assert archive["serverName"] == prod["metadata"]["name"]
    for field in ("destinationPath", "endpointURL", "s3Credentials"):
        assert archive[field] == origin[field], field
    # The restored cluster archives elsewhere: never over the history it came from.
    new_archive = restored["spec"]["backup"]["barmanObjectStore"]
    assert new_archive.get("serverName", restored["metadata"]["name"]) != prod["metadata"]["name"]
    assert "overlays/restore" in README


# --- the Pooler and the connection budget ------------------------------------------------


def _pooler() -> dict[str, Any]:
    (pooler,) = objects("prod", "Pooler").values()
    return pooler


def test_the_services_reach_postgres_through_a_transaction_pooler() -> None:
    pooler = _pooler()
    assert pooler["spec"]["cluster"]["name"] == _cluster()["metadata"]["name"]
    assert pooler["spec"]["type"] == "rw"
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    ignored = pooler["spec"]["pgbouncer"]["parameters"]["ignore_startup_parameters"]
    assert "search_path" in ignored.split(","), "asyncpg sends search_path at startup"
    for service in SERVICES:
        env = resolved_environment("prod", service)
        assert env["DB_HOST"] == pooler["metadata"]["name"], service
        # PgBouncer in transaction mode cannot follow asyncpg's named statements.
        assert env["DB_STATEMENT_CACHE_SIZE"] == "0", service
    bootstrap = resolved_environment("prod", "bootstrap", kind="Job")
    assert bootstrap["DB_HOST"] == f"{_cluster()['metadata']['name']}-rw", "bootstrap goes direct"


def _most_pods(service: str) -> int:
    """Replicas at most, plus the rolling update's surge."""
    deployment = objects("prod", "Deployment")[service]
    hpa = objects("prod", "HorizontalPodAutoscaler").get(service)
    replicas = hpa["spec"]["maxReplicas"] if hpa else deployment["spec"]["replicas"]
    return replicas + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]


def connection_budget() -> dict[str, int]:
    pooler = _pooler()
    parameters = pooler["spec"]["pgbouncer"]["parameters"]
    clients = {
        s: _most_pods(s) * int(resolved_environment("prod", s)["DB_POOL_MAX"]) for s in SERVICES
    }
    return {
        **{f"clients of {s}": n for s, n in clients.items()},
        "clients": sum(clients.values()),
        "max_client_conn": int(parameters["max_client_conn"]),
        # One pool per (role, database) in each pooler instance; each service has its role.
        "server connections": pooler["spec"]["instances"]
        * len(SERVICES)
        * int(parameters["default_pool_size"]),
        "max_connections": int(_cluster()["spec"]["postgresql"]["parameters"]["max_connections"]),
    }


# Besides the Pooler: superuser_reserved_connections (3), streaming replicas and CNPG's own
# sessions (instances x 2), the bootstrap Job (1), a few operators' psql sessions.
DIRECT_SESSIONS = 3 + 3 * 2 + 1 + 10


def test_the_connection_budget_holds_at_the_most_pods_during_a_rollout() -> None:
    budget = connection_budget()
    # Every pod's pool fits in one pooler instance (clients are not balanced evenly).
    assert budget["clients"] <= budget["max_client_conn"], budget
    assert budget["server connections"] + DIRECT_SESSIONS <= budget["max_connections"], budget


def test_the_budget_is_written_down_as_it_is_computed() -> None:
    budget = connection_budget()
    for figure in ("clients", "max_client_conn", "server connections", "max_connections"):
        assert f"| {figure} | {budget[figure]} |" in README, f"deploy/README.md: {figure}"


# --- the way in ---------------------------------------------------------------------------


def test_the_ingress_serves_the_gateway_and_the_agents_over_tls_with_long_websockets() -> None:
    (ingress,) = objects("prod", "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    backends = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in hosts, f"{rule['host']} without TLS"
        for path in rule["http"]["paths"]:
            backends[path["backend"]["service"]["name"]] = path["backend"]["service"]["port"]
    assert backends == {"gateway": {"name": "http"}, "node-agent-gateway": {"name": "http"}}
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600
    assert annotations["haproxy.org/timeout-tunnel"] == "3600s"


def test_the_ingress_routes_only_public_paths() -> None:
    """/internal (service to service) and /metrics (Prometheus) are never routed from
    outside; uploads stream through unbuffered up to the gateway's own limit."""
    (ingress,) = objects("prod", "Ingress").values()
    routed = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    for path in routed:
        assert path != "/", "the whole of a service is routed"
        assert not path.startswith(("/internal", "/metrics")), path
    annotations = ingress["metadata"]["annotations"]
    limit = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    upload_max = int(
        resolved_environment("prod", "gateway").get("FILE_UPLOAD_MAX_BYTES", 104_857_600)
    )
    assert int(limit.rstrip("m")) * 1024 * 1024 >= upload_max
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"


def test_the_gateway_believes_forwarded_addresses_from_the_ingress_controller_only() -> None:
    trusted = resolved_environment("prod", "gateway")["TRUSTED_PROXIES"].split(",")
    assert all(trusted), "TRUSTED_PROXIES is empty"
    for network in map(ipaddress.ip_network, trusted):
        assert network not in PRIVATE, f"{network} is a whole private range"
        assert network.num_addresses <= 65536, f"{network} is wider than a pod range"


# --- who may talk to whom -----------------------------------------------------------------


def _policies() -> list[dict[str, Any]]:
    return list(objects("prod", "NetworkPolicy").values())


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(
        labels.get(e["key"]) in e["values"]
        for e in selector.get("matchExpressions", [])
        if e["operator"] == "In"
    )


def test_the_namespace_denies_all_traffic_by_default() -> None:
    deny = [
        p
        for p in _policies()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny NetworkPolicy for ingress and egress"


def _egress_ports(labels: dict[str, str]) -> set[int]:
    return {
        port["port"]
        for p in _policies()
        if _selects(p, labels) and "Egress" in p["spec"]["policyTypes"]
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_reach_dns_the_pooler_and_the_broker(service: str) -> None:
    labels = objects("prod", "Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    ports = _egress_ports(labels)
    assert {53, 5432, 5672} <= ports, f"{service} may reach only {sorted(ports)}"
    upstreams = service in ("sync", "hytale-auth", "notifier")
    assert (443 in ports) == upstreams, f"{service}: HTTPS to the internet"
    database_hosts = service == "node-agent-gateway"  # game servers' MySQL/MariaDB hosts
    assert (3306 in ports) == database_hosts, f"{service}: MySQL to database hosts"


@pytest.mark.parametrize(
    ("workload", "labels", "port"),
    [
        ("PostgreSQL", {"cnpg.io/cluster": "nodebyte-pg"}, 5432),
        ("Pooler", {"cnpg.io/poolerName": "nodebyte-pg-pooler-rw"}, 5432),
        ("RabbitMQ", {"app.kubernetes.io/name": "nodebyte-rabbitmq"}, 5672),
    ],
)
def test_postgres_the_pooler_and_rabbitmq_have_policies(
    workload: str, labels: dict[str, str], port: int
) -> None:
    selecting = [p for p in _policies() if p["spec"]["podSelector"] != {} and _selects(p, labels)]
    assert selecting, f"no NetworkPolicy of its own selects {workload}"
    ingress_ports = {
        q["port"] for p in selecting for r in p["spec"].get("ingress", []) for q in r["ports"]
    }
    assert port in ingress_ports
    assert {"Ingress", "Egress"} <= {t for p in selecting for t in p["spec"]["policyTypes"]}


def test_the_pooler_name_the_policies_select_is_the_poolers() -> None:
    assert _pooler()["metadata"]["name"] == "nodebyte-pg-pooler-rw"
    assert _cluster()["metadata"]["name"] == "nodebyte-pg"


# --- identities --------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_its_own_service_account_without_a_token(
    overlay: str, service: str
) -> None:
    pod = objects(overlay, "Deployment")[service]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == service
    assert pod["automountServiceAccountToken"] is False
    account = objects(overlay, "ServiceAccount")[service]
    assert account["automountServiceAccountToken"] is False


def test_no_two_services_share_an_account() -> None:
    names = [
        d["spec"]["template"]["spec"].get("serviceAccountName")
        for d in objects("prod", "Deployment").values()
    ]
    assert len(names) == len(set(names))


def test_the_restore_overlay_renders() -> None:
    assert render_overlay("restore")
    assert Path(REPO_ROOT / "deploy/k8s/overlays/restore/recovery-target.yaml").is_file()
