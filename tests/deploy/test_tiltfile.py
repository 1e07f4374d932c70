"""The Tiltfile names every service and emulator and points at files that exist.

Tilt is not installed here; its Starlark is a subset of Python, so the Tiltfile is run
with recorders in place of Tilt's functions, and what it asked for is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from deploy_files import REPO_ROOT, render_overlay

from nodebyte_devstack.config import DEFAULT_PORTS, EMULATORS, SERVICES

TILTFILE = REPO_ROOT / "Tiltfile"


@dataclass
class TiltCalls:
    yaml: list[Any] = field(default_factory=list)
    kustomize: list[str] = field(default_factory=list)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def api(self) -> dict[str, Callable[..., Any]]:
        def kustomize(path: str) -> str:
            self.kustomize.append(path)
            return f"<kustomize {path}>"

        def docker_build(ref: str, context: str, **kwargs: Any) -> None:
            assert ref not in self.builds, f"{ref} built twice"
            self.builds[ref] = {"context": context, **kwargs}

        def k8s_resource(workload: str, **kwargs: Any) -> None:
            assert workload not in self.resources, f"{workload} configured twice"
            self.resources[workload] = kwargs

        return {
            "k8s_yaml": self.yaml.append,
            "kustomize": kustomize,
            "docker_build": docker_build,
            "k8s_resource": k8s_resource,
            "sync": lambda src, dest: ("sync", src, dest),
            "fall_back_on": lambda files: ("fall_back_on", files),
        }


@pytest.fixture(scope="module")
def tilt() -> TiltCalls:
    calls = TiltCalls()
    exec(compile(TILTFILE.read_text(), str(TILTFILE), "exec"), calls.api())  # noqa: S102
    return calls


def test_it_deploys_the_dev_overlay(tilt: TiltCalls) -> None:
    assert tilt.kustomize == ["deploy/k8s/overlays/dev"]
    assert tilt.yaml == ["<kustomize deploy/k8s/overlays/dev>"]


def test_it_builds_an_image_for_each_service_and_the_emulators(tilt: TiltCalls) -> None:
    wanted = {f"nodebyte/{s}": s for s in SERVICES} | {"nodebyte/emulators": "emulators"}
    assert {ref: b["build_args"]["SERVICE"] for ref, b in tilt.builds.items()} == wanted
    for build in tilt.builds.values():
        assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file()
        assert build["target"] == "dev"
        for path in build["only"]:
            assert (REPO_ROOT / path).exists(), f"only= names missing {path}"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_live_updates_from_directories_that_exist(
    tilt: TiltCalls, service: str
) -> None:
    steps = tilt.builds[f"nodebyte/{service}"]["live_update"]
    syncs = [step for step in steps if step[0] == "sync"]
    assert syncs, f"{service} has no live update"
    for _, source, destination in syncs:
        assert (REPO_ROOT / source).is_dir(), source
        assert destination == f"/src/{source}"  # where the dev image keeps the sources
    owner = f"services/{service}"
    assert any(owner.startswith(source) for _, source, _ in syncs)
    (fallback,) = (step for step in steps if step[0] == "fall_back_on")
    assert all((REPO_ROOT / f).is_file() for f in fallback[1])


def test_it_configures_every_workload_of_the_overlay(tilt: TiltCalls) -> None:
    workloads = {
        o["metadata"]["name"]
        for o in render_overlay("dev")
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    }
    assert set(tilt.resources) == workloads
    assert set(SERVICES) | set(EMULATORS) <= workloads


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_forwarded_on_its_port_after_the_bootstrap(
    tilt: TiltCalls, service: str
) -> None:
    resource = tilt.resources[service]
    assert resource["port_forwards"] == DEFAULT_PORTS[service]
    assert "bootstrap" in resource["resource_deps"]


@pytest.mark.parametrize("emulator", EMULATORS)
def test_each_emulator_is_forwarded_on_the_port_make_up_uses(
    tilt: TiltCalls, emulator: str
) -> None:
    forwards = tilt.resources[emulator]["port_forwards"]
    assert f"{DEFAULT_PORTS[emulator]}:8000" in forwards  # HTTP: 8000 in every emulator's pod
    # Its other listeners (DEFAULT_PORTS "<emulator>-<what>", e.g. mail-smtp) keep their port.
    for name, port in DEFAULT_PORTS.items():
        if name.startswith(f"{emulator}-") and name not in SERVICES:  # not hytale-auth
            assert f"{port}:{port}" in forwards, f"{name} is not forwarded"
