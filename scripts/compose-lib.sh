# Sourced by run-docker-cluster.sh and run-docker-tests.sh (which define `die`): pick the compose command
# (`docker compose` or Debian's `docker-compose`) into COMPOSE and require a reachable Docker engine.
# shellcheck shell=bash

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is installed (Debian: apt-get install docker-compose)"
fi
if ! docker info >/dev/null 2>&1; then
  die "no Docker engine is reachable ('docker info' failed). Start dockerd or set DOCKER_HOST, then retry."
fi
export COMPOSE
