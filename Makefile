# NodeByte backend. `make up` runs the whole stack locally; `make test` runs every test.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# uv from the PATH when there is one, else a private copy in .tools/ (installed by pip on first use),
# so `make up` and `make test` need nothing installed by hand.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
PY := .venv/bin/python

.PHONY: install up reset test lint format bench clean deploy-check deploy-rules chaos

install: .venv/.synced

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.synced: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml emulators/pyproject.toml | $(UV)
	$(UV) sync --frozen --python python3
	@touch $@

up: install
	$(PY) -m nodebyte_devstack up

# Drop the local stack's database, broker prefix and .stack/ (secrets, logs): the next
# `make up` starts from empty. Stops nothing: stop `make up` first.
reset: install
	$(PY) -m nodebyte_devstack reset

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: lint
	$(PY) -m pytest

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Offline checks of docker-compose.yml, deploy/k8s (rendered with kubectl kustomize), the
# Tiltfile, the Dockerfile, dashboards and alert rules (also part of `make test`).
deploy-check: install
	$(PY) -m pytest -q tests/deploy

# Write deploy/prometheus/alerts.yaml into the Kubernetes PrometheusRule.
deploy-rules: install
	$(PY) deploy/prometheus/write_prometheusrule.py

# Faults (kills, stops, dropped connections, replicas, poison, upstream errors) injected into
# an isolated stack under steady work; exits non-zero if any work was lost, doubled or failed.
chaos: install
	$(PY) -m chaos

bench: install
	$(PY) bench/bus.py
	$(PY) bench/jwt.py

clean:
	rm -rf .venv .tools .stack .pytest_cache .ruff_cache
