# Developer entry points. A newcomer needs only `make run` and `make test`.
#
#   make run          web + Celery worker/beat on the embedded default (SQLite, filesystem broker)
#   make test         lint, then the whole suite against a throwaway PostgreSQL + Redis
#   make PYTHON=/path/to/python3.12 ...   use that interpreter for .venv
#   make test PYTEST_ARGS='-k cancel -x'  extra pytest arguments
#   make bench BENCH=confirm               one benchmark (default: all of tests/bench)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
STAMP  := $(VENV)/.installed
PY     := $(VENV)/bin/python
MANAGE := $(PY) manage.py

# Empty unless given on the command line or in the environment; then scripts/find-python
# picks the interpreter (python3 here is 3.11, Django 6 needs >= 3.12).
PYTHON ?=
PYTEST_ARGS ?=

# `make run` is for local development; an explicit DEBUG=false in the environment wins.
# DATABASE_URL / CELERY_BROKER_URL pass through from the environment untouched.
export DEBUG ?= true

.PHONY: help venv run test lint fmt migrate seed reset-demo bench clean

help:
	@echo "make run         start the app with demo data on http://127.0.0.1:8000"
	@echo "make test        lint + full test suite (throwaway PostgreSQL and Redis)"
	@echo "make lint | fmt  ruff check / ruff format"
	@echo "make migrate | seed | reset-demo   local database chores (var/)"
	@echo "make bench       benchmarks in tests/bench (throwaway PostgreSQL and Redis)"
	@echo "make venv | clean"

venv: $(STAMP)

# Reinstall only when pyproject.toml changes (the stamp is older than it). A .venv left
# over from a too-old or vanished interpreter is rebuilt from scratch rather than patched.
$(STAMP): pyproject.toml
	@set -euo pipefail; \
	py='$(PYTHON)'; \
	if [ -z "$$py" ]; then py="$$(scripts/find-python)"; fi; \
	if ! "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "PYTHON=$$py is not a working Python >= 3.12 (Django 6 needs it)." >&2; exit 1; \
	fi; \
	if [ -d $(VENV) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "Rebuilding $(VENV): its Python is missing or older than 3.12."; rm -rf $(VENV); \
	fi; \
	if [ ! -x $(PY) ]; then \
	    echo "Creating $(VENV) with $$py ($$("$$py" -V))"; "$$py" -m venv $(VENV); \
	fi; \
	echo "Installing dependencies into $(VENV) (pip install -e '.[dev]') ..."; \
	$(VENV)/bin/pip install --quiet -e '.[dev]'; \
	touch $(STAMP)

# Web server in the foreground, Celery worker with embedded beat in the background.
# The worker is stopped when the web server ends (Ctrl-C included): background jobs of
# a script ignore Ctrl-C, so the trap has to stop it.
run: $(STAMP)
	@mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	@set -uo pipefail; \
	$(VENV)/bin/celery -A config worker -B -Q dispatch,delivery --pool=solo --loglevel=INFO & \
	    worker=$$!; \
	stop_worker() { kill $$worker 2>/dev/null; wait $$worker 2>/dev/null; }; \
	trap stop_worker EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	sleep 2; \
	echo; \
	echo "  Sendings dashboard: http://127.0.0.1:8000   (demo logins are printed above)"; \
	echo "  Celery worker + beat running in the background. Ctrl-C stops both."; \
	echo; \
	$(MANAGE) runserver 127.0.0.1:8000

# Lint first (fast, no services), then pytest inside throwaway PostgreSQL + Redis.
# The exit code is pytest's (5, "no tests collected", stays a failure).
test: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	scripts/with-test-services $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)
	@mkdir -p var
	$(MANAGE) migrate --noinput

seed: migrate
	$(MANAGE) seed_demo

# Only the embedded default is reset here (SQLite file and filesystem broker in var/).
reset-demo: $(STAMP)
	rm -rf var/db.sqlite3 var/broker var/celerybeat-schedule*
	@$(MAKE) --no-print-directory seed

# Benchmarks are scripts (not timed tests): each prints its figures and the machine.
# `make bench BENCH=confirm` runs tests/bench/bench_confirm.py only.
BENCH ?= *
bench: $(STAMP)
	scripts/with-test-services sh -c 'for f in tests/bench/bench_$(BENCH).py; do \
	    echo "== $$f"; $(PY) "$$f" || exit 1; done'

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache staticfiles *.egg-info build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
