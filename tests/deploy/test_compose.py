"""docker-compose.yml is valid Compose and runs each service the way the service needs."""

from __future__ import annotations

import fnmatch
import importlib.resources
import importlib.util
import json
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from deploy_files import (
    REPO_ROOT,
    compose_environment,
    compose_interpolated,
    known_variables,
    required_variables,
    settings_class,
)

from nodebyte_common.bootstrap import SERVICE_SCHEMAS
from nodebyte_common.settings import SettingsError, load_settings
from nodebyte_common.webhook_url import check_webhook_url
from nodebyte_devstack.config import DEFAULT_PORTS, EMULATORS, SERVICES
from nodebyte_gateway.accounts.tokens import load_private_key

OBSERVABILITY = ("prometheus", "grafana", "otel-collector", "jaeger")


def _compose_schema() -> dict[str, Any]:
    """The official compose-spec JSON schema, as check-jsonschema vendors it."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def _services() -> dict[str, dict[str, Any]]:
    return compose_interpolated()["services"]


def _env(service: str) -> dict[str, str]:
    return compose_environment(_services()[service])


def test_the_file_is_valid_compose() -> None:
    validator = jsonschema.Draft202012Validator(_compose_schema())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose_interpolated())
    ]
    assert not errors, "\n".join(errors)


def test_the_schema_check_refuses_a_misspelt_key() -> None:
    broken = {"services": {"gateway": {"image": "x", "helthcheck": {"test": ["NONE"]}}}}
    assert not jsonschema.Draft202012Validator(_compose_schema()).is_valid(broken)


def test_every_long_running_container_has_a_healthcheck() -> None:
    services = _services()
    for name, service in services.items():
        if service.get("restart") == "no":
            # A one-shot: whoever needs it waits for it to exit 0.
            waiting = [
                other
                for other, s in services.items()
                if s.get("depends_on", {}).get(name, {}).get("condition")
                == "service_completed_successfully"
            ]
            assert waiting, f"nothing waits for the one-shot {name}"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test not in (["NONE"], "NONE"), f"{name} disables its healthcheck"


def test_profiles_split_the_stack() -> None:
    services = _services()
    for name in (*SERVICES, "postgres", "rabbitmq", "bootstrap"):
        assert "profiles" not in services[name], f"{name} must run on a plain `up`"
    for name in EMULATORS:
        assert services[name]["profiles"] == ["dev"]
    for name in OBSERVABILITY:
        assert services[name]["profiles"] == ["observability"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_image_on_its_port(service: str) -> None:
    spec = _services()[service]
    assert spec["build"]["args"] == {"SERVICE": service}
    assert spec["image"].split(":")[0] == f"nodebyte/{service}"
    assert importlib.util.find_spec(f"nodebyte_{service.replace('-', '_')}.__main__")
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    env = _env(service)
    listens_on = env.get("BACKEND_PORT") if service == "gateway" else env.get("PORT")
    assert listens_on == str(DEFAULT_PORTS[service])
    assert spec["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_every_variable_its_settings_require(service: str) -> None:
    cls = settings_class(service)
    env = _env(service)
    missing = sorted(v for v in required_variables(cls) if not env.get(v))
    assert not missing, f"{service} requires {missing}: set them in docker-compose.yml"
    try:
        load_settings(cls, env)
    except SettingsError as exc:
        pytest.fail(f"{service} would not start under docker compose: {exc}")


@pytest.mark.parametrize("service", SERVICES)
def test_each_variable_given_is_read_by_the_service(service: str) -> None:
    unknown = set(_env(service)) - known_variables(settings_class(service))
    assert not unknown, f"{service} is given variables it never reads: {sorted(unknown)}"


def test_each_service_connects_as_its_own_role() -> None:
    bootstrap = _services()["bootstrap"]
    passwords = compose_environment(bootstrap)
    for service, schema in SERVICE_SCHEMAS.items():
        url = urlsplit(_env(service)["DATABASE_URL"])
        assert url.username == f"nb_{schema}"
        assert url.password == passwords[f"NB_ROLE_PASSWORD_{schema.upper()}"]
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, "/nodebyte")
    admin_url, database = bootstrap["command"][-2:]
    assert bootstrap["command"][:3] == ["python", "-m", "nodebyte_common.bootstrap"]
    assert urlsplit(admin_url).hostname == "postgres"
    assert database == "nodebyte"


def test_the_gateway_reaches_each_service_by_name_and_port() -> None:
    env = _env("gateway")
    for service in SERVICES:
        if service != "gateway":
            variable = service.upper().replace("-", "_") + "_URL"
            assert env[variable] == f"http://{service}:{DEFAULT_PORTS[service]}"


@pytest.mark.parametrize("emulator", EMULATORS)
def test_the_dev_profile_runs_each_emulator(emulator: str) -> None:
    spec = _services()[emulator]
    assert spec["build"]["args"] == {"SERVICE": "emulators"}
    assert spec["entrypoint"] == ["/app/run"]
    assert spec["command"][0] == emulator
    assert {"--host=0.0.0.0", "--port=8000"} <= set(spec["command"])


def test_the_services_are_pointed_at_the_emulators() -> None:
    sync = _env("sync")
    assert urlsplit(sync["PTERODACTYL_URL"]).netloc == "pterodactyl:8000"
    panel = _services()["pterodactyl"]["command"]
    assert f"--app-key={sync['PTERODACTYL_API_KEY']}" in panel
    assert f"--client-key={sync['PTERODACTYL_CLIENT_API_KEY']}" in panel
    notifier = _env("notifier")
    hosts = frozenset(notifier["WEBHOOK_ALLOWED_HOSTS"].split(","))
    assert urlsplit(check_webhook_url(notifier["DISCORD_WEBHOOK_URL"], hosts)).netloc == (
        "discord:8000"
    )
    hytale = _env("hytale-auth")
    assert _services()["hytale"]["command"][0] == "hytale"
    for variable in ("HYTALE_OAUTH_URL", "HYTALE_ACCOUNT_DATA_URL", "HYTALE_SESSIONS_URL"):
        assert urlsplit(hytale[variable]).netloc == "hytale:8000", variable
    for variable in ("PTERODACTYL_URL", "PTERODACTYL_API_KEY", "PTERODACTYL_CLIENT_API_KEY"):
        assert hytale[variable] == sync[variable], f"hytale-auth pushes to another {variable}"


def _option(command: list[str], name: str) -> str:
    (value,) = (arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}="))
    return value


def test_the_notifier_sends_email_to_the_mail_sink() -> None:
    notifier = _env("notifier")
    sink = _services()["mail"]["command"]
    assert notifier["EMAIL_PROVIDER"] in ("resend", "smtp")
    assert urlsplit(notifier["RESEND_API_URL"]).netloc == f"mail:{_option(sink, 'port')}"
    assert notifier["RESEND_API_KEY"] == _option(sink, "resend-key")
    assert (notifier["SMTP_HOST"], notifier["SMTP_PORT"]) == ("mail", _option(sink, "smtp-port"))
    assert notifier["SMTP_USERNAME"] == _option(sink, "smtp-user")
    assert notifier["SMTP_PASSWORD"] == _option(sink, "smtp-password")
    # The sink's certificate is for localhost: STARTTLS to "mail" could not verify it.
    assert "--tls-cert" not in " ".join(sink)
    assert notifier["SMTP_STARTTLS"] == "false"


def test_the_gateway_signs_tokens_with_an_ed25519_key() -> None:
    load_private_key(_env("gateway")["JWT_PRIVATE_KEY"])


def test_sftp_is_published_with_a_usable_host_key() -> None:
    import asyncssh

    asyncssh.import_private_key(_env("node-agent-gateway")["SFTP_HOST_KEY"].replace("\\n", "\n"))
    assert "2022:2022" in _services()["node-agent-gateway"]["ports"]


def test_every_mounted_file_exists() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name} mounts missing {source}"


def _mount_target(service: str, source: str) -> str:
    for volume in _services()[service]["volumes"]:
        parts = volume.split(":")
        if parts[0] == source:
            return parts[1]
    raise KeyError(f"{service} does not mount {source}")


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((REPO_ROOT / "deploy/compose/prometheus.yml").read_text())
    targets = {
        static["labels"]["service"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        if "service" in static.get("labels", {})
        for target in static["targets"]
    }
    assert targets == {s: f"{s}:{DEFAULT_PORTS[s]}" for s in SERVICES}
    rules = _mount_target("prometheus", "./deploy/prometheus/alerts.yaml")
    assert any(fnmatch.fnmatch(rules, pattern) for pattern in config["rule_files"])
    assert "rabbitmq:15692" in {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }


def test_grafana_is_provisioned_with_the_dashboards() -> None:
    provisioning = REPO_ROOT / "deploy/compose/grafana/provisioning"
    providers = yaml.safe_load((provisioning / "dashboards/dashboards.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == _mount_target("grafana", "./deploy/grafana")
    sources = yaml.safe_load((provisioning / "datasources/datasources.yaml").read_text())
    urls = {d["type"]: urlsplit(d["url"]).hostname for d in sources["datasources"]}
    assert urls == {"prometheus": "prometheus", "jaeger": "jaeger"}


def test_traces_go_through_the_collector_to_jaeger() -> None:
    config = yaml.safe_load((REPO_ROOT / "deploy/compose/otel-collector.yaml").read_text())
    (pipeline,) = config["service"]["pipelines"].values()
    assert pipeline["receivers"] == ["otlp"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    (exporter,) = pipeline["exporters"]
    assert urlsplit("//" + config["exporters"][exporter]["endpoint"]).hostname == "jaeger"
    command = _services()["otel-collector"]["command"]
    target = _mount_target("otel-collector", "./deploy/compose/otel-collector.yaml")
    assert command == [f"--config={target}"]
