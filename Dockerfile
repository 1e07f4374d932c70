# syntax=docker/dockerfile:1.7
# One image per service (or the emulators), from one Dockerfile:
#   docker build --build-arg SERVICE=sync -t nodebyte/sync .
# SERVICE is a workspace member without its `nodebyte-` prefix (gateway, sync, hytale-auth,
# notifier, scheduler, node-agent-gateway, emulators); the image runs
# `python -m nodebyte_<service>` (dashes as underscores) as an unprivileged user.
# Target `runtime` (the default) is the small production image; target `dev` keeps the
# sources editable and restarts on change, for Tilt's live update.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- base: the interpreter, the user and the launcher every stage shares ------------------
FROM ${PYTHON_IMAGE} AS base
ARG SERVICE
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; } \
 && groupadd --system --gid 10001 nodebyte \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin nodebyte \
 && mkdir -p /app \
 && printf '#!/bin/sh\nexec python -m %s "$@"\n' "nodebyte_$(printf %s "$SERVICE" | tr - _)" > /app/run \
 && chmod 0755 /app/run
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    NB_SERVICE=${SERVICE}

# --- deps: the service's third-party dependencies, from the lock file alone ----------------
# Only the manifests are copied, so a change of source reuses this layer: a code change
# does not reinstall every dependency. (A new workspace member needs its line here.)
FROM base AS deps
ARG SERVICE
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/devstack/pyproject.toml libs/devstack/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/sync/pyproject.toml services/sync/
COPY services/hytale-auth/pyproject.toml services/hytale-auth/
COPY services/notifier/pyproject.toml services/notifier/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY services/node-agent-gateway/pyproject.toml services/node-agent-gateway/
COPY emulators/pyproject.toml emulators/
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_COMPILE_BYTECODE=1 uv sync --frozen --no-dev --no-install-workspace --package "nodebyte-${SERVICE}"

# --- build: then the workspace packages (not editable) into /app/.venv ---------------------
FROM deps AS build
ARG SERVICE
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_COMPILE_BYTECODE=1 uv sync --frozen --no-dev --no-editable --package "nodebyte-${SERVICE}"

# --- dev: editable sources under /src, restarted by watchfiles when a file changes ---------
FROM deps AS dev
ARG SERVICE
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package "nodebyte-${SERVICE}" \
 && chown -R nodebyte:nodebyte /src
USER 10001:10001
CMD ["watchfiles", "--filter", "python", "--target-type", "command", "/app/run", "/src/libs", "/src/services", "/src/emulators"]

# --- runtime: only the virtual environment on a slim interpreter --------------------------
FROM base AS runtime
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
USER 10001:10001
CMD ["/app/run"]
