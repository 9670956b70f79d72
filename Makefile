# TrialDesk: every set-up step a fresh machine needs. `make run` and `make test` are the two
# commands in the README; the others are their parts.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
PORT ?= 8000
export PORT

.PHONY: install run test lint migrate demo chromium db-stop clean help bench wrk

help:
	@echo "make run      install, migrate, load the demo trials, start web + worker + beat on http://127.0.0.1:$(PORT)"
	@echo "make test     install (with Chromium), lint, and run every test"
	@echo "make bench    benchmark on generated data; writes bench/results.json (docs/benchmarks.md)"
	@echo "make install  create .venv and install the pinned packages (quick when nothing changed)"
	@echo "make db-stop  stop the embedded PostgreSQL server (data stays in var/pgdata)"
	@echo "make backup   pg_dump the database to var/backups/trialdesk-<UTC time>.dump"
	@echo "make restore FILE=… DB=…  restore a backup into the database DB"

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py create_demo_users
	@if $(PY) manage.py help load_demo_trials >/dev/null 2>&1; then $(PY) manage.py load_demo_trials; fi

run: demo
	$(PY) scripts/run.py

# Browser tests drive Debian's Chromium (Playwright never downloads a browser of its own).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

# The benchmark loads gunicorn with Debian's wrk, from a separate process (docs/benchmarks.md).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing Debian's wrk for the benchmark"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

bench: install wrk
	$(PY) -m bench.run $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --check --no-cache .

test: install chromium lint
	$(PY) manage.py makemigrations --check --dry-run >/dev/null
	$(PY) -m pytest

# Backups: a pg_dump (custom format) of the current database in var/backups/, and its restore
# into a named database (created when missing; `REPLACE=1` drops and re-creates it first).
.PHONY: backup restore
backup: install
	$(PY) manage.py backup_database $(if $(OUT),--out "$(OUT)")

restore: install
	@test -n "$(FILE)" || { echo 'usage: make restore FILE=var/backups/trialdesk-<time>.dump [DB=trialdesk_restored] [REPLACE=1]'; exit 2; }
	$(PY) manage.py restore_database --file "$(FILE)" --target-db "$(or $(DB),trialdesk_restored)" $(if $(REPLACE),--replace)

db-stop: install
	$(PY) -c "from config import embedded_db; print('stopped' if embedded_db.stop() else 'not running')"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
