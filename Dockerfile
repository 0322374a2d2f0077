# syntax=docker/dockerfile:1
# One image for every binance-tool service (bt-exchange-simulator, bt-candle-ingestion, bt-edge70-signals, ...).
# The service is chosen by the container command; see docker-compose.yml and k8/charts/binance-tool.
#
#   docker build -t binance-tool .                 # runtime image (default, last stage)
#   docker build --target test -t binance-tool:test .  # dev extras + source tree: runs `make test`
#
# No secret is baked in: configuration comes from the environment at run time (.env is in .dockerignore).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# Fixed numeric ids so Kubernetes can verify runAsNonRoot and volume ownership.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# ---------------------------------------------------------------------------------------------------------
FROM base AS build
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
COPY pyproject.toml README.md ./
COPY libs/ libs/
COPY services/ services/
COPY cli/ cli/
# Build the project wheel, then install it (and its pinned-by-pyproject dependencies) into the venv.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install /wheels/binance_tool-*.whl

# ---------------------------------------------------------------------------------------------------------
# Test image for `make test`: the project installed editable with its `dev` extras into /app/.venv (where the
# Makefile's scripts/setup.sh expects it, stamped so that setup is a no-op), the whole source tree, and the tools
# the test command uses: make, Debian's docker-compose v1 and shellcheck (deploy checks), socat (docker-compose.yml's
# `tests` service forwards 127.0.0.1:5672/6379 to the rabbitmq/redis services, where scripts/ensure-infra.sh looks).
FROM base AS test
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian package versions are not pinned: the slim base image moves with bookworm point releases and pinned
# versions disappear from the archive; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make docker-compose shellcheck socat \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN chown app:app /app
USER 10001:10001
ENV VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH
COPY --chown=app:app . .
# Versions of the dev extras are constrained in pyproject.toml, not here.
# hadolint ignore=DL3013
RUN python -m venv .venv \
 && .venv/bin/pip install -e ".[dev]" \
 && touch ".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
CMD ["make", "test"]

# ---------------------------------------------------------------------------------------------------------
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# 8080: /health and /ready of every long-running service; 9400: exchange simulator (HTTP + websocket).
EXPOSE 8080 9400
CMD ["binance-tool", "--help"]
