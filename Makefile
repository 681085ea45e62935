# Two entry points: `make demo` and `make test`. Everything else is a helper target.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/demo.yaml
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test lint typecheck contracts pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "pestcast needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# The folders install as pestcast.<folder> through a strict editable install: a tree of links
# in build/ that mypy can follow. A file added to or removed from a package folder changes the
# folder's time stamp, which relinks.
PACKAGE_DIRS := $(shell find core features models flows simulator -type d -not -name __pycache__)
EDITABLE := --config-settings editable_mode=strict
# setuptools announces the link tree on every install; the Makefile owns build/ and knows.
export PYTHONWARNINGS ?= ignore:Editable installation

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt $(PACKAGE_DIRS)
	$(BIN)/python -m pip install --quiet -c constraints.txt $(EDITABLE) -e ".[pdf]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt $(EDITABLE) -e ".[pdf,dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/pestcast demo --config $(CONFIG)

test: $(VENV)/.installed-dev lint typecheck contracts pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

contracts: $(VENV)/.installed-dev
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev browser
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build .prefect .mypy_cache .pytest_cache .ruff_cache

# Headless Chromium from Debian for the map page's browser test (tests/flows/test_map_page.py).
# A file target: apt-get runs only when /usr/bin/chromium is missing (through sudo when not root).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: browser
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
