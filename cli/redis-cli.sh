#!/usr/bin/env bash
# redis-cli against the project's Redis: REDIS_URL from the environment, else from .env at the repo root,
# else redis://127.0.0.1:6379/0. Arguments go to redis-cli:
#   cli/redis-cli.sh                       interactive
#   cli/redis-cli.sh --scan --pattern 'bt:*'
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v redis-cli >/dev/null 2>&1 || {
  echo "redis-cli: not installed (Debian: apt-get install redis-tools)" >&2
  exit 1
}

url="${REDIS_URL:-}"
if [[ -z "$url" && -f "$root/.env" ]]; then
  # Read the one variable without sourcing .env (it may hold other values that are not shell-safe).
  line="$(grep -E '^[[:space:]]*(export[[:space:]]+)?REDIS_URL=' "$root/.env" | tail -n 1 || true)"
  url="${line#*=}"
  url="${url%%[[:space:]]#*}"            # trailing comment
  url="${url%\"}"; url="${url#\"}"       # surrounding quotes
  url="${url%\'}"; url="${url#\'}"
fi
url="${url:-redis://127.0.0.1:6379/0}"

tls=()
[[ "$url" == rediss://* ]] && tls=(--tls)
exec redis-cli "${tls[@]}" -u "$url" "$@"
