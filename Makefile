# The two commands: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export EXTRA_HOME ?= $(CURDIR)/.extra

.PHONY: run test browser postgres ui lint check bench clean help

help:
	@echo "make run   set up, then ingest the synthetic demo drops, run the nightly job on the bundled offline data, render the report"
	@echo "make test  set up, then run lint and the test suite"
	@echo "make ui    set up, then open the Dagster UI (schedules and sensors) on http://127.0.0.1:3000"
	@echo "make bench set up, then time ingest and refresh on a synthetic drop against DuckDB alone (extra bench)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/extra demo-data --if-empty
	$(BIN)/extra run --offline
	$(BIN)/extra report

# tests/test_browser.py opens the HTML products in Debian's chromium (Playwright's own
# browsers cannot be downloaded here): install it where missing, with sudo unless root.
SUDO = $(if $(filter 0,$(shell id -u)),,$(shell command -v sudo))
browser:
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# tests/test_postgres.py starts a throwaway PostgreSQL server of its own (run storage through
# dagster-postgres): install Debian's server binaries where missing (Debian keeps them in
# /usr/lib/postgresql/<version>/bin), without the packaged `main` cluster, so no system
# service is created or started.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || ( \
	  $(SUDO) mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' | \
	    $(SUDO) tee /etc/postgresql-common/createcluster.d/extra-no-main-cluster.conf >/dev/null && \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

test: $(STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

ui: $(STAMP)
	$(BIN)/extra ui

bench: $(STAMP)
	$(BIN)/extra bench

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
