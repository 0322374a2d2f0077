#!/usr/bin/env bash
# Forward Redis from the cluster to 127.0.0.1:${LOCAL_REDIS_PORT:-6379}. Ctrl-C stops it.
# Then: REDIS_URL=redis://127.0.0.1:6379/0 cli/redis-cli.sh
#
# Env: BT_NAMESPACE (default: default), REDIS_SERVICE (default: redis), KUBE_CONTEXT (default: current),
#      LOCAL_REDIS_PORT.
set -euo pipefail

command -v kubectl >/dev/null 2>&1 || { echo "port-forward-redis: kubectl is not installed" >&2; exit 1; }

ctx=()
[[ -n "${KUBE_CONTEXT:-}" ]] && ctx=(--context "$KUBE_CONTEXT")
ns="${BT_NAMESPACE:-default}"
svc="${REDIS_SERVICE:-redis}"

echo "port-forward-redis: $ns/svc/$svc -> 127.0.0.1:${LOCAL_REDIS_PORT:-6379}" >&2
exec kubectl "${ctx[@]}" --namespace "$ns" port-forward "svc/$svc" "${LOCAL_REDIS_PORT:-6379}:6379"
