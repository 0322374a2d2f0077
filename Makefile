# The two commands of the README: `make demo` (the whole cluster on the local simulator) and `make test`.
.PHONY: demo test setup infra bench docs clean

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

docs: setup
	.venv/bin/binance-tool docs bus --out docs/bus-reference.md

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
