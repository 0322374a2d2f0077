#!/usr/bin/env bash
# Forward RabbitMQ from the cluster to this machine: AMQP on 127.0.0.1:${LOCAL_AMQP_PORT:-5672},
# management UI on http://127.0.0.1:${LOCAL_MANAGEMENT_PORT:-15672}. Ctrl-C stops it.
#
# Env: BT_NAMESPACE (default: default), RABBITMQ_SERVICE (default: rabbitmq), KUBE_CONTEXT (default: current),
#      LOCAL_AMQP_PORT, LOCAL_MANAGEMENT_PORT.
set -euo pipefail

command -v kubectl >/dev/null 2>&1 || { echo "port-forward-rabbitmq: kubectl is not installed" >&2; exit 1; }

ctx=()
[[ -n "${KUBE_CONTEXT:-}" ]] && ctx=(--context "$KUBE_CONTEXT")
ns="${BT_NAMESPACE:-default}"
svc="${RABBITMQ_SERVICE:-rabbitmq}"

echo "port-forward-rabbitmq: $ns/svc/$svc -> amqp 127.0.0.1:${LOCAL_AMQP_PORT:-5672}, management 127.0.0.1:${LOCAL_MANAGEMENT_PORT:-15672}" >&2
exec kubectl "${ctx[@]}" --namespace "$ns" port-forward "svc/$svc" \
  "${LOCAL_AMQP_PORT:-5672}:5672" "${LOCAL_MANAGEMENT_PORT:-15672}:15672"
