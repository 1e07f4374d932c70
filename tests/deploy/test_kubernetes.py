"""The Kubernetes overlays render, validate offline, and run each service as it must run."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_files import (
    OVERLAYS,
    UnknownKind,
    base_name,
    config_map_data,
    crd_validators,
    known_variables,
    kubernetes_validator,
    objects,
    render_overlay,
    required_variables,
    secret_data,
    settings_class,
)

from nodebyte_common.bootstrap import SERVICE_SCHEMAS
from nodebyte_common.settings import SettingsError, load_settings
from nodebyte_common.webhook_url import check_webhook_url
from nodebyte_devstack.config import DEFAULT_PORTS, EMULATORS, SERVICES
from nodebyte_gateway.accounts.tokens import load_private_key

OPERATOR_GROUPS = {"rabbitmq.com", "postgresql.cnpg.io", "monitoring.coreos.com"}
UNSCALED = {"scheduler"}  # one leader at a time: a standby replica, no autoscaling
REFERENCE = re.compile(r"\$\((\w+)\)")


def _object_id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("overlay", [*OVERLAYS, "restore"])
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    problems = []
    for obj in render_overlay(overlay):
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if group in OPERATOR_GROUPS:
            validator = crd_validators().get((obj["apiVersion"], obj["kind"]))
            if validator is None:
                problems.append(f"{_object_id(obj)}: no CRD schema for {obj['apiVersion']}")
                continue
            problems += [
                f"{_object_id(obj)} at {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)
            ]
            continue
        try:
            validator = kubernetes_validator(obj["apiVersion"], obj["kind"])
        except UnknownKind as exc:
            problems.append(f"{_object_id(obj)}: {exc}")
            continue
        problems += [
            f"{_object_id(obj)} at {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
    assert not problems, "\n".join(problems)


def test_the_schema_checks_refuse_a_misspelt_field() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {}, "replica": 2},
    }
    errors = list(kubernetes_validator("apps/v1", "Deployment").iter_errors(deployment))
    assert any("replica" in e.message for e in errors)
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 3, "storage": {"sise": "1Gi"}},
    }
    errors = list(crd_validators()[("postgresql.cnpg.io/v1", "Cluster")].iter_errors(cluster))
    assert any("sise" in e.message for e in errors)


# --- each service -----------------------------------------------------------------------


def _container(overlay: str, service: str) -> dict[str, Any]:
    deployment = objects(overlay, "Deployment")[service]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_workload_objects(overlay: str, service: str) -> None:
    assert service in objects(overlay, "Deployment")
    assert service in objects(overlay, "Service")
    assert service in objects(overlay, "PodDisruptionBudget")
    autoscaled = overlay == "prod" and service not in UNSCALED
    assert (service in objects(overlay, "HorizontalPodAutoscaler")) == autoscaled
    replicas = objects(overlay, "Deployment")[service]["spec"].get("replicas")
    if autoscaled:
        assert replicas is None, "the HPA owns the replica count"
        hpa = objects(overlay, "HorizontalPodAutoscaler")[service]
        assert hpa["spec"]["minReplicas"] >= 2
    elif overlay == "prod":
        assert replicas >= 2
    else:
        assert replicas in (None, 1), "the dev overlay runs single replicas"


# Ports a service serves besides its HTTP one (as `make up` does).
EXTRA_PORTS = {"node-agent-gateway": {"sftp": DEFAULT_PORTS["sftp"]}}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_listens_and_is_probed_on_its_port(overlay: str, service: str) -> None:
    container = _container(overlay, service)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": DEFAULT_PORTS[service], **EXTRA_PORTS.get(service, {})}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"]["port"] == "http"
    (port,) = objects(overlay, "Service")[service]["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (DEFAULT_PORTS[service], "http")
    env = resolved_environment(overlay, service)
    listens_on = env.get("BACKEND_PORT") if service == "gateway" else env.get("PORT")
    assert listens_on == str(DEFAULT_PORTS[service])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_unprivileged_with_a_read_only_root(service: str) -> None:
    deployment = objects("prod", "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    container = _container("prod", service)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0, "old pods serve until new ones are ready"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_one_of_ours_and_prod_pins_a_tag(overlay: str) -> None:
    expected = {f"nodebyte/{s}" for s in SERVICES} | {"nodebyte/emulators"}
    for obj in render_overlay(overlay):
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            name, _, tag = container["image"].partition(":")
            if obj["metadata"]["labels"].get("app.kubernetes.io/component") == "infra":
                continue
            assert name in expected, f"{_object_id(obj)} runs {container['image']}"
            if overlay == "prod":
                assert tag not in ("", "latest"), f"{_object_id(obj)} runs an unpinned image"


# --- environment ------------------------------------------------------------------------


def resolved_environment(overlay: str, workload: str, kind: str = "Deployment") -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom, then env with $(VAR)
    expanded from what came before. Secret values are the dev overlay's (the prod overlay
    references Secrets the platform team creates: a placeholder value stands in)."""
    obj = objects(overlay, kind)[workload]
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_map_data(overlay, source["configMapRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            undefined = [v for v in REFERENCE.findall(item["value"]) if v not in env]
            assert not undefined, f"{workload}: {item['name']} uses {undefined} before they are set"
            env[item["name"]] = REFERENCE.sub(lambda m: env[m.group(1)], item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        if overlay == "dev":
            env[item["name"]] = secret_data(overlay, ref["name"]).get(ref["key"], "")
        else:
            env[item["name"]] = f"<{ref['name']}/{ref['key']}>"
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_every_variable_its_settings_require(overlay: str, service: str) -> None:
    cls = settings_class(service)
    env = resolved_environment(overlay, service)
    missing = sorted(v for v in required_variables(cls) if not env.get(v))
    assert not missing, f"{service} requires {missing}: set them in deploy/k8s"
    try:
        load_settings(cls, env)
    except SettingsError as exc:
        pytest.fail(f"{service} would not start in overlay {overlay}: {exc}")


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_variable_given_is_read_by_the_service(overlay: str, service: str) -> None:
    """A misspelt variable is ignored by the service; catch it here. Variables that only
    compose another one (DB_PASSWORD in DATABASE_URL) must be used by one."""
    container = _container(overlay, service)
    env = resolved_environment(overlay, service)
    templates = [i["value"] for i in container.get("env", []) if "value" in i]
    used_in_templates = {v for t in templates for v in REFERENCE.findall(t)}
    unknown = set(env) - known_variables(settings_class(service)) - used_in_templates
    assert not unknown, f"{service} is given variables it never reads: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_resolves(overlay: str) -> None:
    """ConfigMaps exist in the render; Secrets and keys exist in dev, and prod references
    only Secrets (and keys) of the same shape as dev's, which deploy/README.md lists."""
    problems = []
    for obj in render_overlay(overlay):
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if source["configMapRef"]["name"] not in objects(overlay, "ConfigMap"):
                    problems.append(f"{_object_id(obj)}: no ConfigMap {source}")
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and not _secret_key_exists(overlay, ref):
                    problems.append(f"{_object_id(obj)}: no key {ref['key']} in {ref['name']}")
    assert not problems, "\n".join(problems)


def _secret_key_exists(overlay: str, ref: dict[str, str]) -> bool:
    if overlay == "dev":
        return ref["key"] in secret_data("dev", ref["name"])
    dev_secrets = {base_name(n, "dev", "Secret"): n for n in objects("dev", "Secret")}
    return ref["name"] in dev_secrets and ref["key"] in secret_data("dev", dev_secrets[ref["name"]])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_reaches_each_service_by_its_service_name_and_port(overlay: str) -> None:
    env = resolved_environment(overlay, "gateway")
    for service in SERVICES:
        if service == "gateway":
            continue
        variable = service.upper().replace("-", "_") + "_URL"
        assert env[variable] == f"http://{service}:{DEFAULT_PORTS[service]}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bootstrap_job_gives_every_role_a_password(overlay: str) -> None:
    env = resolved_environment(overlay, "bootstrap", kind="Job")
    for schema in SERVICE_SCHEMAS.values():
        assert env.get(f"NB_ROLE_PASSWORD_{schema.upper()}"), schema
    job = objects(overlay, "Job")["bootstrap"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "nodebyte_common.bootstrap"]
    admin_url, database = (REFERENCE.sub(lambda m: env[m.group(1)], a) for a in container["args"])
    assert database == env["DB_NAME"]
    assert admin_url.startswith("postgresql://")
    assert f"@{env['DB_HOST']}:" in admin_url
    for service in SERVICES:
        service_env = resolved_environment(overlay, service)
        url = service_env["DATABASE_URL"]
        role = f"nb_{SERVICE_SCHEMAS[service]}"
        assert url.startswith(f"postgresql://{role}:"), f"{service} connects as {url}"
        # Same server port and database; in prod the services' host is the Pooler.
        assert url.endswith(f"@{service_env['DB_HOST']}:{env['DB_PORT']}/{env['DB_NAME']}")


# --- network, monitoring, infrastructure ---------------------------------------------------


def _selected(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("service", SERVICES)
def test_internal_apis_accept_only_the_gateway_and_prometheus(service: str) -> None:
    labels = objects("prod", "Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in objects("prod", "NetworkPolicy").values() if _selected(p, labels)]
    assert policies, f"no NetworkPolicy selects {service}"
    if service in ("gateway", "node-agent-gateway"):  # public API, agents' WebSocket
        return
    sources = [
        peer for p in policies for rule in p["spec"].get("ingress", []) for peer in rule["from"]
    ]
    assert sources, f"{service} must not accept everyone"
    for peer in sources:
        allowed = peer.get("podSelector") == {
            "matchLabels": {"app.kubernetes.io/name": "gateway"}
        } or set(peer) == {"namespaceSelector"}
        assert allowed, f"{service} accepts {peer}"


def test_prometheus_scrapes_every_service() -> None:
    monitors = objects("prod", "ServiceMonitor").values()
    (monitor,) = (m for m in monitors if m["spec"].get("jobLabel"))
    wanted = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True
    for service in SERVICES:
        svc = objects("prod", "Service")[service]
        assert wanted.items() <= svc["metadata"]["labels"].items(), service
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert "nodebyte" in objects("prod", "PrometheusRule")


def test_prod_runs_postgres_and_rabbitmq_through_their_operators() -> None:
    (cluster,) = objects("prod", "Cluster").values()
    assert cluster["spec"]["instances"] >= 3
    superuser = cluster["spec"]["superuserSecret"]["name"]
    env = resolved_environment("prod", "bootstrap", kind="Job")
    assert env["PGPASSWORD"] == f"<{superuser}/password>"
    assert env["DB_HOST"] == f"{cluster['metadata']['name']}-rw"
    assert env["DB_NAME"] == cluster["spec"]["bootstrap"]["initdb"]["database"]
    (rabbit,) = objects("prod", "RabbitmqCluster").values()
    assert rabbit["spec"]["replicas"] >= 3
    assert rabbit["spec"]["replicas"] % 2 == 1
    assert (
        "prometheus.return_per_object_metrics = true"
        in rabbit["spec"]["rabbitmq"]["additionalConfig"]
    )
    service_env = resolved_environment("prod", "sync")
    assert service_env["AMQP_URL"].startswith("amqp://")
    assert f"@{rabbit['metadata']['name']}:5672/" in service_env["AMQP_URL"]
    (vhost,) = objects("prod", "Vhost").values()
    assert vhost["spec"]["defaultQueueType"] == "quorum"
    assert service_env["AMQP_URL"].endswith("/" + vhost["spec"]["name"])
    (user,) = objects("prod", "User").values()
    credentials = user["spec"]["importCredentialsSecret"]["name"]
    assert f"<{credentials}/password>" in service_env["AMQP_URL"]


@pytest.mark.parametrize("emulator", EMULATORS)
def test_the_dev_overlay_runs_each_emulator(emulator: str) -> None:
    deployment = objects("dev", "Deployment")[emulator]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/app/run"]
    assert container["args"][0] == emulator
    assert "--port=8000" in container["args"]
    assert "--host=0.0.0.0" in container["args"]
    ports = {p["name"]: p for p in objects("dev", "Service")[emulator]["spec"]["ports"]}
    assert (ports["http"]["port"], ports["http"]["targetPort"]) == (8000, "http")
    named = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in ports.values()} <= named


def test_dev_points_the_services_at_the_emulators() -> None:
    sync = resolved_environment("dev", "sync")
    assert sync["PTERODACTYL_URL"] == "http://pterodactyl:8000"
    panel = objects("dev", "Deployment")["pterodactyl"]["spec"]["template"]["spec"]
    panel_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in panel["containers"][0]["env"]}
    assert panel_env["APP_KEY"]["key"] == "pterodactyl-api-key"  # the key sync presents
    notifier = resolved_environment("dev", "notifier")
    hosts = frozenset(notifier["WEBHOOK_ALLOWED_HOSTS"].split(","))
    check_webhook_url(notifier["DISCORD_WEBHOOK_URL"], hosts)
    hytale = resolved_environment("dev", "hytale-auth")
    (port,) = objects("dev", "Service")["hytale"]["spec"]["ports"]
    for variable in ("HYTALE_OAUTH_URL", "HYTALE_ACCOUNT_DATA_URL", "HYTALE_SESSIONS_URL"):
        assert hytale[variable] == f"http://hytale:{port['port']}", variable
    for variable in ("PTERODACTYL_URL", "PTERODACTYL_API_KEY", "PTERODACTYL_CLIENT_API_KEY"):
        assert hytale[variable] == sync[variable], f"hytale-auth pushes to another {variable}"


def _resolved_args(overlay: str, workload: str) -> list[str]:
    (container,) = objects(overlay, "Deployment")[workload]["spec"]["template"]["spec"][
        "containers"
    ]
    env = resolved_environment(overlay, workload)
    return [REFERENCE.sub(lambda m: env[m.group(1)], arg) for arg in container["args"]]


def _option(args: list[str], name: str) -> str:
    (value,) = (arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}="))
    return value


def test_dev_sends_email_to_the_mail_sink() -> None:
    notifier = resolved_environment("dev", "notifier")
    sink = _resolved_args("dev", "mail")
    ports = {p["name"]: p["port"] for p in objects("dev", "Service")["mail"]["spec"]["ports"]}
    assert notifier["EMAIL_PROVIDER"] in ("resend", "smtp")
    assert notifier["RESEND_API_URL"] == f"http://mail:{ports['http']}"
    assert notifier["RESEND_API_KEY"] == _option(sink, "resend-key")
    assert (notifier["SMTP_HOST"], notifier["SMTP_PORT"]) == ("mail", str(ports["smtp"]))
    assert _option(sink, "smtp-port") == str(ports["smtp"])
    assert notifier["SMTP_USERNAME"] == _option(sink, "smtp-user")
    assert notifier["SMTP_PASSWORD"] == _option(sink, "smtp-password")
    # The sink's certificate is for localhost: STARTTLS to "mail" could not verify it.
    assert not any(arg.startswith("--tls-cert") for arg in sink)
    assert notifier["SMTP_STARTTLS"] == "false"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_signing_key_comes_from_a_secret(overlay: str) -> None:
    (item,) = (e for e in _container(overlay, "gateway")["env"] if e["name"] == "JWT_PRIVATE_KEY")
    ref = item["valueFrom"]["secretKeyRef"]
    assert (base_name(ref["name"], overlay, "Secret"), ref["key"]) == (
        "nodebyte-app",
        "jwt-private-key",
    )
    assert not ref.get("optional")
    if overlay == "dev":
        load_private_key(resolved_environment("dev", "gateway")["JWT_PRIVATE_KEY"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sftp_is_served_from_outside_with_a_kept_host_key(overlay: str) -> None:
    service = objects(overlay, "Service")["node-agent-gateway-sftp"]["spec"]
    assert service["type"] == "LoadBalancer"
    (port,) = service["ports"]
    assert (port["port"], port["targetPort"]) == (DEFAULT_PORTS["sftp"], "sftp")
    env = {e["name"]: e for e in _container(overlay, "node-agent-gateway")["env"]}
    assert env["SFTP_HOST_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "sftp-host-key"
    config = resolved_environment(overlay, "node-agent-gateway")
    assert config["SFTP_PORT"] == str(DEFAULT_PORTS["sftp"])
    assert config["GATEWAY_URL"] == f"http://gateway:{DEFAULT_PORTS['gateway']}"
