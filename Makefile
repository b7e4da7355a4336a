# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
# The exact, hashed versions that were tested; `make lock` regenerates both from pyproject.toml.
LOCK      := requirements.lock
TEST_LOCK := requirements-test.lock
UV        := uv==0.13.8
STALE     := ">> the lock files do not match pyproject.toml: run 'make lock' and commit them"

.PHONY: run demo test lint typecheck browser-deps nginx-deps bench lock clean

# Dependencies come from the lock only; the project itself goes in with --no-deps, and
# `pip check` catches a lock that misses a dependency pyproject.toml names.
$(STAMP): pyproject.toml $(LOCK)
	@echo ">> creating virtual environment in $(VENV) and installing Roundtable"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on --require-hashes -r $(LOCK)
	$(PY) -m pip install --progress-bar on --no-deps -e .
	$(PY) -m pip check || { echo $(STALE); exit 1; }
	touch $(STAMP)

$(TSTAMP): $(STAMP) pyproject.toml $(TEST_LOCK)
	@echo ">> installing test dependencies"
	$(PY) -m pip install --progress-bar on --require-hashes -r $(TEST_LOCK)
	$(PY) -m pip check || { echo $(STALE); exit 1; }
	touch $(TSTAMP)

# Regenerate the lock files after changing a dependency in pyproject.toml (versions already
# locked are kept unless pyproject.toml rules them out; add --upgrade to move everything).
# One resolution for every supported Python (3.11+), so the Docker image uses the same file.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV)
	$(PY) -m uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o $(LOCK)
	$(PY) -m uv pip compile pyproject.toml --extra test --constraint $(LOCK) --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command "make lock" --quiet \
		-o $(TEST_LOCK)

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

# Debian's nginx runs in front of two instances in tests/deploy/test_nginx.py (as a
# foreground process of the test's own; the package's service is never started by it).
nginx-deps:
	@if [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo ">> no /usr/sbin/nginx and no root: run 'sudo apt-get install nginx' for the proxy tests"; exit 0; fi; \
		echo ">> installing Debian's nginx for the proxy tests"; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nginx; \
	fi

lint: $(TSTAMP)
	$(PY) -m ruff check .

typecheck: $(TSTAMP)
	$(PY) -m mypy actors web storage settings.py run.py

test: $(TSTAMP) browser-deps nginx-deps lint typecheck
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
