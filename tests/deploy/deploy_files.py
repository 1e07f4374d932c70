"""Loading what the deploy checks look at: rendered overlays, CRD schemas, compose, settings."""

from __future__ import annotations

import base64
import functools
import importlib
import inspect
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils
import msgspec
import yaml
from referencing import Registry, Resource

from nodebyte_common.settings import CommonSettings, env_name

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The operators' published CRD schemas, kept in the repository so the checks run anywhere.
CRD_DIR = REPO_ROOT / "deploy" / "schemas" / "crds"
# libyaml's loader: the CRD files are 1.6 MB of YAML.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- kustomize -------------------------------------------------------------------------------


@functools.cache
def render_overlay(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` (or `kustomize build`) of an overlay, offline."""
    directory = K8S / "overlays" / overlay
    if kubectl := shutil.which("kubectl"):
        command = [kubectl, "kustomize", str(directory)]
    elif kustomize := shutil.which("kustomize"):
        command = [kustomize, "build", str(directory)]
    else:
        raise RuntimeError("neither kubectl nor kustomize is installed: cannot render overlays")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"kustomize failed for overlay {overlay}:\n{done.stderr}")
    return tuple(doc for doc in yaml.load_all(done.stdout, Loader=_Loader) if doc)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in render_overlay(overlay) if o["kind"] == kind}


def generated_name(overlay: str, kind: str, name: str) -> str:
    """The name kustomize gave a generated ConfigMap/Secret (`<name>-<hash>` or `<name>`)."""
    for found in objects(overlay, kind):
        if found == name or re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", found):
            return found
    raise KeyError(f"{kind} {name} not rendered in overlay {overlay}")


def base_name(name: str, overlay: str, kind: str) -> str:
    """A reference's name without kustomize's hash suffix, when it names a generated object."""
    for candidate in objects(overlay, kind):
        if candidate == name:
            return re.sub(r"-[a-z0-9]{10}$", "", name)
    return name


def config_map_data(overlay: str, name: str) -> dict[str, str]:
    return objects(overlay, "ConfigMap")[name].get("data", {})


def secret_data(overlay: str, name: str) -> dict[str, str]:
    secret = objects(overlay, "Secret")[name]
    decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return decoded | secret.get("stringData", {})


# --- Kubernetes schemas --------------------------------------------------------------------

KUBERNETES_VERSION = "1.32.0"  # the kubectl installed on the machines


class UnknownKind(LookupError):
    pass


@functools.cache
def _kubernetes_definitions() -> Registry:
    defs = kubernetes_validate.utils.schema_contents(
        f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/_definitions.json",
        KUBERNETES_VERSION,
    )
    return Resource.from_contents(defs) @ Registry()


@functools.cache
def kubernetes_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """The strict schema of a built-in kind, from kubernetes-validate's files (loaded once,
    where its `validate()` reloads them for each object)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kubernetes_validate.utils.schema_contents(
            f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/"
            f"{kind.lower()}-{group_version}.json",
            KUBERNETES_VERSION,
        )
    except FileNotFoundError:
        raise UnknownKind(f"no Kubernetes schema for {api_version} {kind}") from None
    registry = Resource.from_contents(schema) @ _kubernetes_definitions()
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --- CRD schemas -----------------------------------------------------------------------------


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    """(apiVersion, kind) -> a strict validator of the operators' custom resources."""
    if not CRD_DIR.is_dir():
        raise RuntimeError(f"CRD schemas not found at {CRD_DIR} (deploy/schemas/crds)")
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(_python_patterns(version["schema"]["openAPIV3Schema"]))
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
    return validators


def _python_patterns(node: Any) -> Any:
    """Go RE2 allows `^(?i)…`; Python wants global flags first: `(?i)^…`."""
    if isinstance(node, dict):
        fixed = {k: _python_patterns(v) for k, v in node.items()}
        pattern = fixed.get("pattern")
        if isinstance(pattern, str):
            fixed["pattern"] = re.sub(r"^\^(\(\?[a-zA-Z]+\))", r"\1^", pattern)
        return fixed
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def _strict(node: Any) -> Any:
    """Refuse unknown fields (the API server would silently prune a misspelt one)."""
    if isinstance(node, dict):
        fixed = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in fixed
            and "additionalProperties" not in fixed
            and not fixed.get("x-kubernetes-preserve-unknown-fields")
        ):
            fixed["additionalProperties"] = False
        return fixed
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


# --- docker compose --------------------------------------------------------------------------

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


@functools.cache
def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_interpolated() -> dict[str, Any]:
    """The compose model as `docker compose config` sees it with no variable set: defaults."""
    return _interpolate(compose_raw())


def _interpolate(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v) for v in node]
    if isinstance(node, str):
        return _INTERPOLATION.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(2) or ""), node)
    return node


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# --- services' settings ----------------------------------------------------------------------


def settings_class(service: str) -> type[CommonSettings]:
    """The settings Struct a service loads (the CommonSettings subclass in its settings.py)."""
    module = importlib.import_module(f"nodebyte_{service.replace('-', '_')}.settings")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, CommonSettings) and cls.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise LookupError(f"{module.__name__} defines {len(found)} settings classes, expected 1")
    return found[0]


def required_variables(cls: type[msgspec.Struct]) -> set[str]:
    return {env_name(f.encode_name) for f in msgspec.structs.fields(cls) if f.required}


def known_variables(cls: type[msgspec.Struct]) -> set[str]:
    return {env_name(f.encode_name) for f in msgspec.structs.fields(cls)}
