#!/usr/bin/env bash
# Forward the chart's exchange simulator (services.exchange-simulator.enabled=true) to
# http://127.0.0.1:${LOCAL_SIM_PORT:-9400} (REST, websocket streams). Ctrl-C stops it.
#
# Env: BT_NAMESPACE (default: default), BT_RELEASE (Helm release, default: binance-tool),
#      SIMULATOR_SERVICE (default: the chart's name for it, <release>-exchange-simulator when the release name
#      contains "binance-tool", else <release>-binance-tool-exchange-simulator), KUBE_CONTEXT, LOCAL_SIM_PORT.
set -euo pipefail

command -v kubectl >/dev/null 2>&1 || { echo "port-forward-simulator: kubectl is not installed" >&2; exit 1; }

ctx=()
[[ -n "${KUBE_CONTEXT:-}" ]] && ctx=(--context "$KUBE_CONTEXT")
ns="${BT_NAMESPACE:-default}"
release="${BT_RELEASE:-binance-tool}"
if [[ "$release" == *binance-tool* ]]; then
  default_svc="$release-exchange-simulator"
else
  default_svc="$release-binance-tool-exchange-simulator"
fi
svc="${SIMULATOR_SERVICE:-$default_svc}"

echo "port-forward-simulator: $ns/svc/$svc -> http://127.0.0.1:${LOCAL_SIM_PORT:-9400}" >&2
exec kubectl "${ctx[@]}" --namespace "$ns" port-forward "svc/$svc" "${LOCAL_SIM_PORT:-9400}:9400"
