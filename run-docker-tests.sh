#!/usr/bin/env bash
# Build the test image (Dockerfile target `test`: the project with its `dev` extras) and run the `tests`
# service of docker-compose.yml against that file's rabbitmq and redis, then tear everything down.
# Exits with the tests' status.
#
#   ./run-docker-tests.sh                        make test
#   ./run-docker-tests.sh pytest -m unit -x      any other command in the test container
#
# Uses its own compose project (binance-tool-tests) and ephemeral host ports, so it can run beside
# ./run-docker-cluster.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "run-docker-tests: $*" >&2; exit 1; }

# shellcheck source=scripts/compose-lib.sh
source scripts/compose-lib.sh

export COMPOSE_PROJECT_NAME="${BT_TESTS_PROJECT:-binance-tool-tests}"
# Host port 0: let the engine pick free ports, so a running cluster's 5672/6379/... do not collide.
export RABBITMQ_PORT=0 RABBITMQ_MANAGEMENT_PORT=0 REDIS_PORT=0 SIM_PORT=0
compose() { "${COMPOSE[@]}" -f docker-compose.yml --profile test "$@"; }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { compose down --volumes --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

compose build tests
compose up -d rabbitmq redis

# The vhosts and feature flags scripts/ensure-infra.sh sets up on a local broker (bt-test for the tests).
echo "run-docker-tests: waiting for RabbitMQ" >&2
for _ in $(seq 1 60); do
  compose exec -T rabbitmq rabbitmqctl -q await_startup >/dev/null 2>&1 && break
  sleep 2
done
rmq() { compose exec -T rabbitmq rabbitmqctl -q "$@" >/dev/null; }
rmq await_startup || die "RabbitMQ did not start"
rmq enable_feature_flag all || true
for vhost in bt-test bt-demo; do
  rmq add_vhost "$vhost" 2>/dev/null || true
  rmq set_permissions -p "$vhost" "${RABBITMQ_USER:-guest}" ".*" ".*" ".*"
done

run_flags=(--rm)
[[ -t 0 && -t 1 ]] || run_flags+=(-T)

status=0
compose run "${run_flags[@]}" tests "$@" || status=$?
if (( status == 0 )); then
  echo "run-docker-tests: tests passed"
else
  echo "run-docker-tests: tests failed (exit $status)" >&2
fi
exit "$status"
