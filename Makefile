# The two commands of the README: `make demo` and `make test`. Both create .venv on first use and
# reinstall only when the lock, pyproject.toml or scripts/install change (the stamp file), so a
# second run starts at once. scripts/install is the one install recipe: the Dockerfile runs it too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALL_INPUTS := pyproject.toml requirements/build.txt requirements/dev-lock.txt scripts/install
STAMP := $(VENV)/.installed-$(shell cat $(INSTALL_INPUTS) | sha256sum | cut -c1-16)

.PHONY: demo test lint typecheck pytest unit integration e2e test-data bench lock clean

$(STAMP): $(INSTALL_INPUTS)
	PYTHON=$(PYTHON) scripts/install --dev $(VENV)
	rm -f $(VENV)/.installed-*
	touch $@

test-data: $(STAMP)
	$(BIN)/python scripts/test-data

demo: $(STAMP) test-data
	$(BIN)/facepay demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy src

# One worker per core; a test file stays on one worker (its module fixtures: servers, databases).
# (A third worker on 2 cores measured no faster on a fresh clone: 9 min 49 s against 9 min 26 s.)
PARALLEL := -n auto --dist loadfile

pytest: $(STAMP) test-data
	$(BIN)/python -m pytest $(PARALLEL)

test: lint typecheck pytest

# The three layers of tests/ on their own (`make test` runs them all, after lint and typecheck).
unit: $(STAMP) test-data
	$(BIN)/python -m pytest $(PARALLEL) tests/unit

integration: $(STAMP) test-data
	$(BIN)/python -m pytest $(PARALLEL) tests/integration

e2e: $(STAMP) test-data
	$(BIN)/python -m pytest $(PARALLEL) tests/e2e tests/security

bench: $(STAMP) test-data
	$(BIN)/python bench/face.py
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/settle.py

# `make lock` regenerates requirements/*.txt from pyproject.toml and requirements/*.in, keeping
# every pin that still fits; `make lock LOCK_ARGS=--upgrade` moves everything to the newest
# releases, `LOCK_ARGS="--upgrade-package numpy"` one package (docs/deployment.md). One universal
# resolution for CPython 3.11+ on every platform, hash-pinned; the runtime lock and the build tools
# are constrained to the dev lock, so tests run the very versions the container ships. Then every
# pin is checked to have a wheel for each platform and Python the deployment docs promise.
LOCK_VENV := $(VENV)/lock-tool
UV := $(LOCK_VENV)/bin/uv
LOCK_ARGS ?=
COMPILE = $(UV) pip compile --universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
WHEEL_PLATFORMS := x86_64-manylinux_2_28 aarch64-manylinux_2_28
WHEEL_PYTHONS := 3.11 3.12 3.13 3.14

$(UV): requirements/uv.txt
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements/uv.txt
	touch $@

lock: $(UV)
	$(COMPILE) requirements/uv.in -o requirements/uv.txt
	$(COMPILE) pyproject.toml --extra dev requirements/build.in -o requirements/dev-lock.txt
	$(COMPILE) pyproject.toml requirements/build.in -c requirements/dev-lock.txt \
		-o requirements/lock.txt
	$(COMPILE) requirements/build.in -c requirements/dev-lock.txt -o requirements/build.txt
	@for platform in $(WHEEL_PLATFORMS); do for python in $(WHEEL_PYTHONS); do \
		$(UV) pip compile --quiet --no-header pyproject.toml --extra dev requirements/build.in \
			-c requirements/dev-lock.txt --python-platform $$platform --python-version $$python \
			--only-binary :all: --no-binary face-recognition-models > /dev/null \
		|| { echo "make lock: a pin has no wheel for $$platform, CPython $$python" >&2; exit 1; }; \
	done; done
	@echo "requirements/ locked; wheels for $(WHEEL_PLATFORMS) on CPython $(WHEEL_PYTHONS)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
