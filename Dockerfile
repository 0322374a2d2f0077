# syntax=docker/dockerfile:1
# One image for every binance-tool service (bt-exchange-simulator, bt-candle-ingestion, bt-edge70-signals, ...).
# The service is chosen by the container command; see docker-compose.yml and k8/charts/binance-tool.
#
#   docker build -t binance-tool .                 # runtime image (default, last stage)
#   docker build --target test -t binance-tool:test .   # + dev extras, source tree, make: runs `make test`
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
# Test image: the runtime venv plus the `dev` extras, the whole source tree and the tools the deploy checks
# use (make, Debian's docker-compose v1 for `config`, shellcheck). docker-compose.yml's `tests` service uses it.
FROM base AS test
# Debian package versions are not pinned: the slim base image moves with bookworm point releases and pinned
# versions disappear from the archive; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make docker-compose shellcheck \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . .
# Versions of the dev extras are constrained in pyproject.toml, not here.
# hadolint ignore=DL3013
RUN pip install ".[dev]"
USER 10001:10001
CMD ["make", "test"]

# ---------------------------------------------------------------------------------------------------------
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# 8080: /health and /ready of every long-running service; 9400: exchange simulator (HTTP + websocket).
EXPOSE 8080 9400
CMD ["binance-tool", "--help"]
