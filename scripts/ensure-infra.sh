#!/usr/bin/env bash
# Make sure RabbitMQ and Redis run on loopback (installing Debian's packages when missing and we are root),
# then create the vhosts the local demo and the tests use.  Idempotent; safe to run before every command.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
AMQP_PORT=${AMQP_PORT:-5672}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_pkg() {  # need_pkg <binary> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-infra: '$1' is not installed. Install it with:  sudo apt-get install -y $2" >&2
    exit 1
  fi
  echo "ensure-infra: installing $2 (Debian package)"
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

wait_port() {  # wait_port <port> <name> <seconds>
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  echo "ensure-infra: $2 did not come up on 127.0.0.1:$1" >&2
  exit 1
}

if ! port_open "$REDIS_PORT"; then
  need_pkg redis-server redis-server
  echo "ensure-infra: starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p /tmp/bt-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp/bt-redis --logfile /tmp/bt-redis/redis.log
  wait_port "$REDIS_PORT" Redis 30
fi

if ! port_open "$AMQP_PORT"; then
  need_pkg rabbitmq-server rabbitmq-server
  echo "ensure-infra: starting RabbitMQ on 127.0.0.1:$AMQP_PORT"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port "$AMQP_PORT" RabbitMQ 120
fi

if command -v rabbitmqctl >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  rabbitmqctl -q await_startup >/dev/null 2>&1 || true
  # At-least-once dead-lettering from quorum queues needs every feature flag on (stream_queue among them).
  rabbitmqctl -q enable_feature_flag all >/dev/null 2>&1 || true
  for vhost in bt-demo bt-test; do
    rabbitmqctl -q add_vhost "$vhost" >/dev/null 2>&1 || true
    rabbitmqctl -q set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null 2>&1 || true
  done
else
  echo "ensure-infra: note: cannot run rabbitmqctl here; make sure vhosts bt-demo and bt-test exist for user guest"
fi
echo "ensure-infra: Redis 127.0.0.1:$REDIS_PORT and RabbitMQ 127.0.0.1:$AMQP_PORT are up"
