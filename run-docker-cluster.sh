#!/usr/bin/env bash
# Build the binance-tool image and run the local cluster from docker-compose.yml:
# rabbitmq, redis, exchange-simulator, candle-ingestion-a/-b, edge70-signals.
# Follows the logs; Ctrl-C (or the end of the logs) stops the cluster cleanly. Volumes are kept.
#
#   ./run-docker-cluster.sh              build, start, follow logs
#   ./run-docker-cluster.sh --no-build   start with the images already built
#   ./run-docker-cluster.sh --detach     build and start, then return (stop with: <compose> down)
#
# Settings: the shell environment or .env (see dot-env-template). CANDLES_DATA_DIR points at the candle data
# (default ../shared/data/binance-spot). COMPOSE_PROJECT_NAME defaults to binance-tool.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "run-docker-cluster: $*" >&2; exit 1; }

build=1
detach=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -d|--detach) detach=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown option: $arg (try --help)" ;;
  esac
done

# shellcheck source=scripts/compose-lib.sh
source scripts/compose-lib.sh

export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-binance-tool}"
compose() { "${COMPOSE[@]}" -f docker-compose.yml "$@"; }

data_dir="${CANDLES_DATA_DIR:-../shared/data/binance-spot}"
if [[ ! -f "$data_dir/exchange_info_2021-03-24.json" ]]; then
  die "no candle data at '$data_dir' (expected 1d/, 1h/ and exchange_info_2021-03-24.json); set CANDLES_DATA_DIR"
fi

if (( build )); then
  compose build
fi

stopped=0
# shellcheck disable=SC2317  # called by the EXIT trap
stop_cluster() {
  (( stopped )) && return
  stopped=1
  echo "run-docker-cluster: stopping the cluster..." >&2
  compose down --remove-orphans || true
}

compose up -d --remove-orphans
if (( detach )); then
  compose ps
  echo "run-docker-cluster: started; follow with '${COMPOSE[*]} logs -f', stop with '${COMPOSE[*]} down'"
  exit 0
fi

trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
compose logs --follow --tail=100
