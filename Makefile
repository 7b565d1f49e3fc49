# Two commands on a fresh machine: `make run` and `make test`. Everything installs from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Serving needs the base dependencies only (`make run`); tests add the dev extras (`make test`).
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app mailroom
CHROMIUM ?= /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js
PYBABEL := $(BIN)/pybabel
CATALOGUES := src/mailroom/translations
LOCALES := zh_Hans zh_Hant

.PHONY: install install-base run test lint typecheck pytest e2e browser axe bench clean messages translations docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The app depends on Flask-Mailroom, which lives in flask-mailroom/ of this repository.
$(BASE_STAMP): pyproject.toml flask-mailroom/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ./flask-mailroom -e .
	touch $(BASE_STAMP)

$(STAMP): pyproject.toml flask-mailroom/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e "./flask-mailroom[test]" -e ".[dev]"
	touch $(STAMP) $(BASE_STAMP)

## What serving needs (no test tools).
install-base: $(BASE_STAMP)

## Everything, test tools included.
install: $(STAMP)

## Serve http://127.0.0.1:5000 in debug mode (reload on change) on embedded defaults: SQLite in
## instance/, the dev mailbox at /dev/mail, the in-process worker. A .env file is read when present.
run: install-base
	$(FLASK) db upgrade
	$(FLASK) mail upgrade
	$(FLASK) run --debug --host 127.0.0.1 --port 5000

## axe-core from the npm registry (package.json / package-lock.json), injected by the browser tests.
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(AXE)

axe: $(AXE)

## Debian's Chromium for the browser tests (no browser download: Playwright drives this one), with a
## CJK font so screenshots of the Chinese pages show the text rather than empty boxes.
browser: axe
	@if [ ! -x $(CHROMIUM) ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	  else echo "Chromium or a CJK font missing: sudo apt-get install chromium fonts-wqy-zenhei"; fi; \
	fi

## Translations: extract every string into messages.pot and merge it into each catalogue (then translate
## the new entries in $(CATALOGUES)/<locale>/LC_MESSAGES/messages.po and run `make translations`).
## The mail package's catalogue is its own (`make mail-messages`, run first): its strings are not here.
messages: install mail-messages
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext -k N_ -k Nn_:1,2 -k _n:1,2 --add-location=file --sort-by-file \
	  --project=Mailroom --copyright-holder=Mailroom --msgid-bugs-address=mailroom@localhost \
	  -o $(CATALOGUES)/messages.pot src/mailroom
	for locale in $(LOCALES); do \
	  if [ -f $(CATALOGUES)/$$locale/LC_MESSAGES/messages.po ]; then \
	    $(PYBABEL) update -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) -l $$locale --no-fuzzy-matching --ignore-obsolete; \
	  else $(PYBABEL) init -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) -l $$locale; fi; \
	done

## Compile the catalogues into the .mo files the package ships (committed: `make run` needs no step).
translations: install mail-translations
	$(PYBABEL) compile -d $(CATALOGUES) --statistics

## Flask-Mailroom's own catalogue, domain flask_mailroom (shipped in its wheel): extract the package's
## strings into $(MAIL_CATALOGUES)/flask_mailroom.pot and merge it into each locale's flask_mailroom.po
## (run in flask-mailroom/, so locations read as in the distribution); then translate the new entries
## and run `make mail-translations`.
MAIL_PACKAGE := flask-mailroom
MAIL_CATALOGUES := src/flask_mailroom/translations
MAIL_LOCALES := en $(LOCALES)
.PHONY: mail-messages mail-translations
mail-messages: install
	cd $(MAIL_PACKAGE) && $(abspath $(PYBABEL)) extract -F babel.cfg --add-location=file --sort-by-file \
	  --project=Flask-Mailroom --copyright-holder="The Mailroom developers" --msgid-bugs-address=mailroom@localhost \
	  -o $(MAIL_CATALOGUES)/flask_mailroom.pot src/flask_mailroom
	cd $(MAIL_PACKAGE) && for locale in $(MAIL_LOCALES); do \
	  if [ -f $(MAIL_CATALOGUES)/$$locale/LC_MESSAGES/flask_mailroom.po ]; then \
	    $(abspath $(PYBABEL)) update -D flask_mailroom -i $(MAIL_CATALOGUES)/flask_mailroom.pot -d $(MAIL_CATALOGUES) \
	      -l $$locale --no-fuzzy-matching --ignore-obsolete; \
	  else $(abspath $(PYBABEL)) init -D flask_mailroom -i $(MAIL_CATALOGUES)/flask_mailroom.pot -d $(MAIL_CATALOGUES) \
	    -l $$locale; fi; \
	done

## Compile the package's catalogue into the .mo files its wheel ships (committed, like the app's).
mail-translations: install
	$(PYBABEL) compile -D flask_mailroom -d $(MAIL_PACKAGE)/$(MAIL_CATALOGUES) --statistics

## Flask-Mailroom's documentation (flask-mailroom/docs, Sphinx) as HTML in flask-mailroom/docs/_build/html;
## any warning fails the build.
docs: install
	$(BIN)/sphinx-build -W --keep-going -b html flask-mailroom/docs flask-mailroom/docs/_build/html

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

## Dovecot (IMAP and POP3) from Debian for the bounce mailbox tests, which start a server of their own
## on loopback (a missing Dovecot skips them, or fails them under CI=true).
.PHONY: servers
servers:
	@if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/pop3 ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd dovecot-pop3d >/dev/null; \
	  else echo "Dovecot missing: sudo apt-get install dovecot-imapd dovecot-pop3d"; fi; \
	fi

## The suites run on PYTEST_WORKERS processes (pytest-xdist; 0: one process). 3 on 2 cores: one worker
## spends about 4 minutes on the deployment's drills, mostly waiting, two take the rest; 4 was no faster.
PYTEST_WORKERS ?= 3
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS)

## Both suites, the app's (tests/) and Flask-Mailroom's (flask-mailroom/tests/): pyproject.toml's testpaths.
pytest: install browser servers
	$(PYTEST) $(PYTEST_ARGS)

## Lint, type-check, build the docs and run both suites.
test: lint typecheck docs pytest

## Production-shaped deployment on loopback (its own PostgreSQL, Redis, SMTP provider, gunicorn, mail
## workers): browser journeys and fault drills; screenshots and logs land in e2e-artifacts/.
e2e: install browser
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/delivery.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info e2e-artifacts node_modules
