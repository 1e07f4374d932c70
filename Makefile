# NodeByte backend. `make up` runs the whole stack locally; `make test` runs every test.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# uv from the PATH when there is one, else a private copy in .tools/ (installed by pip on first use),
# so `make up` and `make test` need nothing installed by hand.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
PY := .venv/bin/python

.PHONY: install up reset test lint format bench clean deploy-check deploy-rules chaos mutate \
	db-init db-migrate db-migrate-schema db-status db-list db-reset

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

# Every service's schema (`nodebyte db …`, services/gateway cli_database.py). DATABASE_URL:
# a role that may act as each service's role; by default the local stack's database.
DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/$(or $(NB_DATABASE),nodebyte)
NODEBYTE_DB = DATABASE_URL="$(DATABASE_URL)" .venv/bin/nodebyte db

db-init: install
	$(NODEBYTE_DB) init

db-migrate: install
	$(NODEBYTE_DB) migrate

# make db-migrate-schema SCHEMA=sync
db-migrate-schema: install
	$(NODEBYTE_DB) migrate --schema "$(SCHEMA)"

db-status: install
	$(NODEBYTE_DB) status

db-list: install
	$(NODEBYTE_DB) list

# Asks for the database name before dropping anything.
db-reset: install
	$(NODEBYTE_DB) reset

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

# Mutation testing of one module against the tests that guard it (not part of `make test`):
#   make mutate MODULE=libs/common/src/nodebyte_common/outbox.py \
#               TESTS="libs/common/tests/test_bus.py libs/common/tests/test_bus_guarantees.py"
# cosmic-ray mutates the file in place one mutant at a time (so services the tests start
# run the mutant too), runs TESTS, restores it, then lists the survivors and the score.
# mutate_filter.py first drops the equivalent mutants inside (unevaluated) annotations and
# keeps one replacement per operator site; MUTATE_LINES="a-b,c-d" keeps only those lines.
# TESTS run with -x: list the fastest first.
MUTATE_VENV := .tools/mutate
MUTATE_TIMEOUT ?= 300
MUTATE_LINES ?=
# The plugins the unit tests do not use cost ~10 s of start-up per mutant.
MUTATE_PYTEST = -x -q -p no:randomly -p no:cacheprovider -p no:hypothesispytest -p no:faker -p no:schemathesis

$(MUTATE_VENV)/bin/cosmic-ray:
	python3 -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/pip install --quiet --disable-pip-version-check 'cosmic-ray>=8.4,<9'

mutate: install $(MUTATE_VENV)/bin/cosmic-ray
	@test -n "$(MODULE)" -a -n "$(TESTS)" || { echo 'usage: make mutate MODULE=path/to/module.py TESTS="test paths"'; exit 2; }
	@mkdir -p .mutate
	@printf '[cosmic-ray]\nmodule-path = "%s"\ntimeout = %s\nexcluded-modules = []\ntest-command = "%s -m pytest $(MUTATE_PYTEST) %s"\n\n[cosmic-ray.distributor]\nname = "local"\n' \
		"$(MODULE)" "$(MUTATE_TIMEOUT)" "$(PY)" "$(TESTS)" > .mutate/config.toml
	$(MUTATE_VENV)/bin/cosmic-ray init .mutate/config.toml .mutate/session.sqlite --force
	$(MUTATE_VENV)/bin/python libs/devstack/src/nodebyte_devstack/mutate_filter.py .mutate/session.sqlite "$(MODULE)" "$(MUTATE_LINES)"
	$(MUTATE_VENV)/bin/cosmic-ray exec .mutate/config.toml .mutate/session.sqlite
	@git diff --quiet -- "$(MODULE)" || { echo "$(MODULE) was left mutated"; exit 1; }
	@$(MUTATE_VENV)/bin/cr-report .mutate/session.sqlite --surviving-only --show-diff
	@echo "survival rate (%, lower is better):" && $(MUTATE_VENV)/bin/cr-rate .mutate/session.sqlite
