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

bench: deps
	$(PYTHON) bench/collection_cycle.py
