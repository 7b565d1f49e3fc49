# Two commands on a fresh machine: `make run` and `make test`. Everything installs from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app mailroom
CHROMIUM ?= /usr/bin/chromium

.PHONY: install run test lint typecheck pytest e2e browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Serve the site on http://127.0.0.1:5000 on embedded defaults (SQLite, dev mailbox, in-process worker).
run: install
	$(FLASK) db upgrade
	$(FLASK) run --host 127.0.0.1 --port 5000

## Debian's Chromium for the browser tests (no browser download: Playwright drives this one).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium missing: install Debian's chromium package (sudo apt-get install chromium)"; fi; \
	fi

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

## Lint, type-check and run the whole suite.
test: lint typecheck pytest

## Production-shaped deployment on loopback (its own PostgreSQL, Redis, SMTP provider, gunicorn, mail
## workers): browser journeys and fault drills; screenshots and logs land in e2e-artifacts/.
e2e: install browser
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/delivery.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info e2e-artifacts
