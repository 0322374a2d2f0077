#!/usr/bin/env bash
# Offline checks of the deployment artefacts (no Docker engine, no Kubernetes cluster needed):
# docker-compose.yml through Debian's docker-compose v1 `config`, the Dockerfile through hadolint, the Helm
# chart rendered by Helm's own engine (helm-python-sdk) and validated against the Kubernetes schemas
# (kubernetes-validate), and the shell scripts through shellcheck. The checks live in tests/deploy/.
#
#   scripts/check-deploy.sh --install   setup: install what is missing (apt: docker-compose, shellcheck;
#                                       pip: helm-python-sdk), then exit. Needs root for apt.
#   scripts/check-deploy.sh             run the checks (pytest tests/deploy); extra arguments go to pytest.
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# Pinned: the version whose rendering the tests were written against (Helm SDK v4.2.3 inside).
HELM_PYTHON_SDK="helm-python-sdk==0.2.2"
APT_PACKAGES=(docker-compose shellcheck)

install() {
  local missing=()
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  if ((${#missing[@]})); then
    if [[ "$(id -u)" -ne 0 ]]; then
      echo "check-deploy: missing ${missing[*]}; run as root, or: sudo apt-get install -y ${APT_PACKAGES[*]}" >&2
      exit 1
    fi
    echo "check-deploy: installing ${missing[*]} (apt)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! "$PYTHON" -c "import helm_python" >/dev/null 2>&1; then
    echo "check-deploy: installing $HELM_PYTHON_SDK (pip)" >&2
    "$PYTHON" -m pip install -q "$HELM_PYTHON_SDK"
  fi
  echo "check-deploy: docker-compose $(docker-compose version --short), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), helm $("$PYTHON" -c 'import helm_python as h; print(h.helm_sdk_version())')"
}

case "${1:-}" in
  --install) install ;;
  -h|--help) sed -n '2,11p' "$0" ;;
  *) exec "$PYTHON" -m pytest tests/deploy -q -p no:cacheprovider "$@" ;;
esac
