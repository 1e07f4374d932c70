"""The Dockerfile builds any service (or the emulators) into a slim, unprivileged image."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib

import pytest
from deploy_files import REPO_ROOT

from nodebyte_devstack.config import SERVICES

DOCKERFILE = REPO_ROOT / "Dockerfile"
IMAGES = (*SERVICES, "emulators")
BUILD_INPUTS = ("pyproject.toml", "uv.lock", "libs", "services", "emulators")


def _stages() -> dict[str, list[str]]:
    """Instructions per stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if match := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE):
            current = stages.setdefault(match.group(1), [])
        if line and not line.startswith("#"):
            current.append(line)
    return stages


def test_the_last_stage_is_the_runtime_image_run_unprivileged() -> None:
    stages = _stages()
    assert list(stages)[-1] == "runtime", "a plain `docker build` must give the runtime image"
    for stage in ("runtime", "dev"):
        users = [line.split()[1] for line in stages[stage] if line.startswith("USER ")]
        assert users, f"stage {stage} runs as root"
        uid = users[-1].split(":")[0]
        assert uid.isdigit(), "a numeric user lets Kubernetes verify runAsNonRoot"
        assert int(uid) != 0
    runtime = " ".join(stages["runtime"])
    assert "COPY --from=build /app/.venv /app/.venv" in runtime
    assert "uv " not in runtime, "the runtime image carries no build tools"


def test_each_stage_using_service_declares_it() -> None:
    """A build argument is visible only in the stages that declare it."""
    for stage, lines in _stages().items():
        uses = any("$SERVICE" in line or "${SERVICE}" in line for line in lines)
        if uses:
            assert "ARG SERVICE" in lines, f"stage {stage} uses SERVICE without ARG SERVICE"


def test_the_runtime_installs_no_dev_dependencies_and_not_editable() -> None:
    build = " ".join(_stages()["build"])
    assert 'uv sync --frozen --no-dev --no-editable --package "nodebyte-${SERVICE}"' in build


def _launcher_module(service: str) -> str:
    """The module /app/run starts, as the base stage's printf writes it."""
    base = " ".join(_stages()["base"])
    assert 'exec python -m %s "$@"' in base
    assert '"nodebyte_$(printf %s "$SERVICE" | tr - _)"' in base
    return "nodebyte_" + service.replace("-", "_")


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_is_a_workspace_package_with_a_main_module(image: str) -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    packages = {p["name"] for p in lock["package"]}
    assert f"nodebyte-{image}" in packages
    assert importlib.util.find_spec(_launcher_module(image) + ".__main__"), image


def test_the_build_context_keeps_what_the_build_needs() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in BUILD_INPUTS:
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), f"{needed} is ignored"
        assert (REPO_ROOT / needed).exists()
    for heavy in (".venv", ".git"):
        assert any(fnmatch.fnmatch(heavy, p.removeprefix("**/")) for p in patterns), heavy


def test_dependencies_install_from_the_lock_file_before_the_source() -> None:
    """A code change reuses the dependency layer: `deps` sees only the manifests."""
    stages = _stages()
    deps = stages["deps"]
    assert not any(line.startswith("COPY . .") for line in deps)
    copied = {line.split()[1] for line in deps if line.startswith("COPY ") and "--from" not in line}
    members = {
        str(path.relative_to(REPO_ROOT))
        for pattern in (
            "libs/*/pyproject.toml",
            "services/*/pyproject.toml",
            "emulators/pyproject.toml",
        )
        for path in REPO_ROOT.glob(pattern)
    }
    assert members <= copied, f"workspace members missing from deps: {members - copied}"
    assert any("--no-install-workspace" in line for line in deps)
    for stage in ("build", "dev"):
        assert stages[stage][0].startswith("FROM deps AS")
