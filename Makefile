# The two commands of the README: `make demo` and `make test`. Both create .venv on first use and
# reinstall only when pyproject.toml changes (the stamp file), so a second run starts at once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)

.PHONY: demo test lint typecheck pytest test-data bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

pytest: $(STAMP) test-data
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP) test-data
	$(BIN)/python bench/face.py
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/settle.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
