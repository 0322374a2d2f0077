#!/usr/bin/env bash
# The whole test command: lint, format check, type check, deploy-artefact checks, then pytest
# (unit, integration on the real RabbitMQ/Redis, end-to-end on the simulator).  Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
echo "== ruff"
$V/ruff check libs services cli tests bench
$V/ruff format --check libs services cli tests bench
echo "== mypy (strict on libs/)"
$V/mypy libs/binance_tool
echo "== deploy artefacts"
bash scripts/check-deploy.sh --install
echo "== pytest"
$V/pytest -q "$@"
