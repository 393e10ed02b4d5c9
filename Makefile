# Quick start: `make demo` runs the main job on the embedded sandbox ERP; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ADAPTERS := $(sort $(dir $(wildcard adapters/*/pyproject.toml)))
STAMP := $(VENV)/.installed
LINT_PATHS := $(wildcard src tests adapters benchmarks docs/tutorial docs/conftest.py)

.PHONY: install test lint typecheck demo bench docs clean fuzz

$(STAMP): pyproject.toml $(wildcard adapters/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach a,$(ADAPTERS),-e $(a))
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

# Two worker processes, one per core; a file's tests stay on one worker (the docs pages are
# sessions, and some tests share a file's fixtures).
test: lint typecheck docs
	$(BIN)/pytest -q -n 2 --dist loadfile

docs: $(STAMP)
	@if [ -f mkdocs.yml ]; then NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site; fi

# The hostile-input fuzz harness with a larger budget (make test runs it small and derandomized).
# MUNIVIDEO_FUZZ_EXAMPLES=N sets examples per test; MUNIVIDEO_FUZZ_TALLY=FILE writes the tally.
# Then the stateful exactly-once test at 300 examples x 50 steps per capability set (~2 min
# of CPU; 10.5 min wall on the shared 2-core machine).
fuzz: $(STAMP)
	MUNIVIDEO_FUZZ=large $(BIN)/pytest tests/fuzz -q -p no:cacheprovider
	MUNIVIDEO_FUZZ=1 $(BIN)/pytest tests/engine/test_exactly_once_stateful.py -q -p no:cacheprovider

demo: $(STAMP)
	$(BIN)/munivideo demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache
