# Developer entry points. A newcomer needs only `make run` and `make test`.
#
#   make run          web + Celery worker/beat on the embedded default (SQLite, filesystem broker)
#   make test         lint, then the whole suite against a throwaway PostgreSQL + Redis
#   make PYTHON=/path/to/python3.12 ...   use that interpreter for .venv
#   make test PYTEST_ARGS='-k cancel -x'  extra pytest arguments
#   make bench BENCH=confirm               one benchmark (default: all of tests/bench)
#   make lock [UPGRADE=1]                  re-resolve uv.lock + requirements.lock (with uv)
#   make messages                          extract the strings into locale/*.po, compile them

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
STAMP  := $(VENV)/.installed
PY     := $(VENV)/bin/python
MANAGE := $(PY) manage.py
LOCK   := requirements.lock

# uv is only needed by `make lock`; installing the lock needs nothing but pip. Pinned so a
# re-lock does not change with whatever uv is newest; it lives in build/ (gitignored).
UV_VERSION := 0.13.8
UV_DIR     := build/uv-$(UV_VERSION)
UV         := $(UV_DIR)/bin/uv

# Empty unless given on the command line or in the environment; then scripts/find-python
# picks the interpreter (python3 here is 3.11, Django 6 needs >= 3.12).
PYTHON ?=
PYTEST_ARGS ?=

# `make run` is for local development; an explicit DEBUG=false in the environment wins.
# DATABASE_URL / CELERY_BROKER_URL pass through from the environment untouched.
export DEBUG ?= true

.PHONY: help venv lock run test lint fmt migrate seed reset-demo bench clean messages compilemessages

help:
	@echo "make run         start the app with demo data on http://127.0.0.1:8000"
	@echo "make test        lint + full test suite (throwaway PostgreSQL and Redis)"
	@echo "make lint | fmt  ruff check / ruff format"
	@echo "make migrate | seed | reset-demo   local database chores (var/)"
	@echo "make bench       benchmarks in tests/bench (throwaway PostgreSQL and Redis)"
	@echo "make lock        after editing dependencies in pyproject.toml: re-resolve uv.lock and"
	@echo "                 requirements.lock (UPGRADE=1: everything to the newest allowed version)"
	@echo "make messages    extract the translatable strings into locale/<lang>/LC_MESSAGES/*.po"
	@echo "                 (then translate the empty msgstr in es), and compile them"
	@echo "make venv | clean"

venv: $(STAMP)

# .venv holds exactly what requirements.lock pins (every version and hash, runtime + dev,
# exported from uv.lock), then the project itself, editable and without dependencies.
# Reinstall only when pyproject.toml or the lock changes (the stamp is older than them);
# packages the lock no longer lists are uninstalled. A .venv left over from a too-old or
# vanished interpreter is rebuilt from scratch rather than patched.
$(STAMP): pyproject.toml $(LOCK)
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
	echo "Installing the locked dependencies into $(VENV) (pip install --require-hashes -r $(LOCK)) ..."; \
	$(VENV)/bin/pip install --quiet --require-hashes -r $(LOCK); \
	names() { sed -En 's/^([A-Za-z0-9][A-Za-z0-9._-]*) *(==| @ ).*/\1/p' | tr 'A-Z_.' 'a-z--' | sort -u; }; \
	stale=$$(comm -23 <($(VENV)/bin/pip freeze --exclude-editable | names) <(names < $(LOCK))); \
	if [ -n "$$stale" ]; then \
	    echo "Uninstalling what $(LOCK) no longer lists:" $$stale; \
	    $(VENV)/bin/pip uninstall --quiet --yes $$stale; \
	fi; \
	$(VENV)/bin/pip install --quiet --no-deps -e .; \
	if ! $(VENV)/bin/pip check >/dev/null; then \
	    $(VENV)/bin/pip check >&2 || true; \
	    echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'." >&2; exit 1; \
	fi; \
	touch $(STAMP)

# Re-resolve after pyproject.toml changes: uv.lock (universal: every platform, Python >= 3.12)
# keeps the versions it has unless pyproject.toml rules them out, or UPGRADE=1 is given; then
# requirements.lock is exported from it (its time kept when nothing changed, so .venv is not
# reinstalled for nothing), and .venv is brought in line.
lock:
	@set -euo pipefail; \
	py='$(PYTHON)'; \
	if [ -z "$$py" ]; then py="$$(scripts/find-python)"; fi; \
	if [ ! -x $(UV) ]; then \
	    echo "Installing uv $(UV_VERSION) into $(UV_DIR) ..."; \
	    rm -rf $(UV_DIR); "$$py" -m venv $(UV_DIR); \
	    $(UV_DIR)/bin/pip install --quiet uv==$(UV_VERSION); \
	fi; \
	export UV_PYTHON_DOWNLOADS=never; \
	$(UV) lock --python "$$py" $(if $(filter-out 0,$(UPGRADE)),--upgrade); \
	before=$$(mktemp); trap 'rm -f "$$before"' EXIT; \
	if [ -f $(LOCK) ]; then cp -p $(LOCK) "$$before"; fi; \
	$(UV) export --quiet --frozen --extra dev --no-emit-project --format requirements-txt -o $(LOCK); \
	if cmp -s "$$before" $(LOCK); then touch -r "$$before" $(LOCK); fi
	@$(MAKE) --no-print-directory venv

# Translations: locale/<lang>/LC_MESSAGES/{django,djangojs}.po are committed; the .mo files
# Django reads are compiled from them here (gitignored), whenever a .po is newer.
LANGS       := es en
PO_FILES    := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES    := $(PO_FILES:.po=.mo)
MSG_IGNORE  := --ignore=.venv --ignore=build --ignore=var --ignore=staticfiles --ignore=tests
MSG_OPTIONS := $(foreach l,$(LANGS),-l $(l)) $(MSG_IGNORE) --no-obsolete --add-location=file

%.mo: %.po
	@scripts/need-gettext
	msgfmt --check-format -o $@ $<

compilemessages: $(MO_FILES)

# Extract (Python and templates: domain django; static/js: domain djangojs), then compile.
messages: $(STAMP)
	@scripts/need-gettext
	$(MANAGE) makemessages -d django $(MSG_OPTIONS)
	$(MANAGE) makemessages -d djangojs $(MSG_OPTIONS)
	@# The extraction date changes on every run: dropped, so that .po files differ only by
	@# their messages (and merge without conflicts in the header).
	sed -i '/^"POT-Creation-Date: /d' locale/*/LC_MESSAGES/*.po
	@$(MAKE) --no-print-directory compilemessages

# Web server in the foreground, Celery worker with embedded beat in the background.
# The worker is stopped when the web server ends (Ctrl-C included): background jobs of
# a script ignore Ctrl-C, so the trap has to stop it.
run: $(STAMP) compilemessages
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
test: $(STAMP) compilemessages
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
	rm -rf $(VENV) var .pytest_cache .ruff_cache staticfiles *.egg-info build $(MO_FILES)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
