# clinictext: `make demo` runs the demo clinic, `make test` runs the whole suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATABASE_URL ?= sqlite:///demo.db
HOST ?= 127.0.0.1
PORT ?= 8000

CHROMIUM ?= $(shell command -v chromium 2>/dev/null)

.PHONY: demo test install dev browser lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

demo: install
	CLINICTEXT_DATABASE_URL="$(DEMO_DATABASE_URL)" $(BIN)/clinictext serve --demo --host $(HOST) --port $(PORT)

# The browser tests drive the distribution's Chromium (Playwright never downloads one).
browser:
	@if [ -z "$(CHROMIUM)" ] && [ -z "$$CLINICTEXT_CHROMIUM" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "The browser tests need Chromium: run 'sudo apt-get install chromium'," \
				"or set CLINICTEXT_CHROMIUM to a Chromium binary." >&2; exit 1; \
		fi; \
	fi

test: dev browser
	$(BIN)/python -m pytest

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache .mypy_cache .ruff_cache
