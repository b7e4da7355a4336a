# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run demo test lint typecheck browser-deps bench clean

$(STAMP): pyproject.toml
	@echo ">> creating virtual environment in $(VENV) and installing Roundtable"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on -e .
	touch $(STAMP)

$(TSTAMP): $(STAMP) pyproject.toml
	@echo ">> installing test dependencies"
	$(PY) -m pip install --progress-bar on -e '.[test]'
	touch $(TSTAMP)

run: $(STAMP)
	$(PY) run.py

demo: $(STAMP)
	$(PY) run.py --demo

# Debian's Chromium drives the browser tests; Playwright never downloads a browser here.
# Without root (or passwordless sudo) it says how to install it and goes on: the browser
# tests then skip with that reason (and fail under CI=true).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo ">> no /usr/bin/chromium and no root: run 'sudo apt-get install chromium' for the browser tests"; exit 0; fi; \
		echo ">> installing Debian's chromium for the browser tests"; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

lint: $(TSTAMP)
	$(PY) -m ruff check .

typecheck: $(TSTAMP)
	$(PY) -m mypy actors web storage settings.py run.py

test: $(TSTAMP) browser-deps lint typecheck
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
