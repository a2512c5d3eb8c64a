# Sexto Architect — `make run` and `make test` set everything up on a bare machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export LTI_TOOL_ENV ?= dev

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Exact versions and hashes from requirements.lock (made by `make lock`), so a new release upstream
# cannot break a fresh clone; the tool itself is installed on top without resolving anything.
$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(INSTALLED) ## create the virtual environment and install the tool

setup: install ## install, generate keys, migrate the SQLite database
	$(BIN)/lti-tool setup

run: setup ## start the tool and its demo LMS (open the URL it prints)
	LTI_TOOL_ENV=demo $(BIN)/lti-tool demo

screenshots: setup ## README screenshots of the running demo (docs/screenshots/*.png)
	bash scripts/ensure-browser.sh
	$(BIN)/python scripts/screenshots.py

test-setup: install ## test prerequisites: PostgreSQL, Redis, Chromium, axe-core
	bash scripts/ensure-services.sh
	bash scripts/ensure-browser.sh

lint: install ## ruff
	$(BIN)/ruff check lti_tool tests bench migrations

typecheck: install ## mypy on the package (settings in pyproject.toml)
	$(BIN)/mypy

lock: ## re-pin every dependency (uv from PyPI) after editing pyproject.toml
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml build-requirements.in --extra test --extra demo --python-version 3.11 \
	  --generate-hashes -o requirements.lock

translations: install ## recompile the French catalogues after editing a .po
	for d in $$(find lti_tool -type d -name translations); do $(BIN)/pybabel compile -d $$d -D messages; done

test: test-setup lint typecheck ## every test: on SQLite, then on PostgreSQL + Redis
	$(BIN)/lti-tool cases validate
	LTI_TEST_BACKEND=sqlite $(BIN)/pytest -q
	LTI_TEST_BACKEND=postgres $(BIN)/pytest -q

bench: setup ## launch, case-step, grading and page benchmarks (prints figures)
	$(BIN)/python bench/launch.py
	$(BIN)/python bench/cases.py
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/pages.py

.PHONY: help install setup run screenshots test-setup lint typecheck lock translations test bench
