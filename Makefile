# Boxoffice: `make run` serves everything, `make test` runs what CI runs.
# Both work on a fresh machine with Python 3.11 and make; see README.md.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py

.PHONY: run test stop install lint clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python -m project.launcher

# The same set-up as `run`, then every check CI makes.
test: install
	$(MANAGE) provision_db
	$(MANAGE) migrate_all --verbosity 0
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MAKE) lint
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml
	$(BIN)/pytest
	$(BIN)/python tests/split_run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --config importlinter.ini
	$(BIN)/mypy

# Stops what a killed `make run` left running (its supervisord and programs, the
# embedded PostgreSQL), and an embedded PostgreSQL left by `make test`.
stop:
	@if test -S .run/supervisor.sock && $(BIN)/supervisorctl --configuration .run/supervisord.conf shutdown; then \
		for i in $$(seq 150); do test -S .run/supervisor.sock || break; sleep 0.5; done; fi
	$(BIN)/python -m project.embedded_postgres stop
	BOXOFFICE_PGDATA=.pgdata-orders $(BIN)/python -m project.embedded_postgres stop

clean: stop
	rm -rf $(VENV) .run staticfiles .import_linter_cache
