# One entry point for developers and CI. `make test` installs what it needs first.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: deps lint docs test bench

deps:
	bash tests/install-deps.sh

lint:
	$(PYTHON) -m ruff check monitor tests bench
	$(PYTHON) -m ruff format --check monitor tests bench
	$(PYTHON) -m mypy

docs:
	$(PYTHON) -m monitor.reference

test: deps lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# BENCH_MINUTES per configuration; see docs/benchmarks.md for the larger ones.
BENCH_PG ?= 15
BENCH_MINUTES ?= 2

bench:
	WITH_BENCH=1 bash tests/install-deps.sh
	$(PYTHON) bench/collection_cycle.py
	$(PYTHON) -m pip install -q -e '.[test,bench]'
	for cfg in "200 1" "2000 1" "200 10"; do set -- $$cfg; \
	  $(PYTHON) bench/vs_postgres_exporter.py --pg $(BENCH_PG) --tables $$1 --databases $$2 \
	    --minutes $(BENCH_MINUTES) \
	    --out bench/results/vs_postgres_exporter_pg$(BENCH_PG)_t$$1_d$$2_equal.json || exit 1; \
	done
	$(PYTHON) bench/report.py bench/results/vs_postgres_exporter_*.json
