# NodeByte backend. `make up` runs the whole stack locally; `make test` runs every test.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV ?= $(shell command -v uv || echo "python3 -m uv")
PY := .venv/bin/python

.PHONY: install up test lint format bench clean deploy-check deploy-rules

install: .venv/.synced

.venv/.synced: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml emulators/pyproject.toml
	$(UV) sync --frozen --python python3
	@touch $@

up: install
	$(PY) -m nodebyte_devstack

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

bench: install
	$(PY) bench/bus.py
	$(PY) bench/jwt.py

clean:
	rm -rf .venv .stack .pytest_cache .ruff_cache
