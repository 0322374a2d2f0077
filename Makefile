# The two commands of the README: `make demo` (the whole cluster on the local simulator) and `make test`.
.PHONY: demo test setup infra bench bench-compare docs clean

demo: setup infra
	.venv/bin/binance-tool demo $(DEMO_ARGS)

test: setup infra
	bash scripts/run-tests.sh $(PYTEST_ARGS)

setup:
	bash scripts/setup.sh

infra:
	bash scripts/ensure-infra.sh

bench: setup infra
	.venv/bin/python bench/bus_throughput.py
	.venv/bin/python bench/signal_latency.py
	.venv/bin/python -m bench.backtest_speed
	.venv/bin/python -m bench.execution_latency --rate 16 --seconds 15
	.venv/bin/python -m bench.execution_reports

# Our backtester against backtesting.py, vectorbt and freqtrade (~5 min), in its own venv.
bench-compare: setup
	test -x .venv-bench/bin/python || python3 -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -e '.[bench]'
	.venv-bench/bin/python -m compileall -q libs cli services >/dev/null
	.venv-bench/bin/python bench/backtest_compare.py

docs: setup
	.venv/bin/binance-tool docs bus --out docs/bus-reference.md

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .venv-bench
