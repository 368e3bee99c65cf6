# Every target bootstraps .venv itself: a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint typecheck unit demo bench bench-quick docs clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict src

unit: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

demo: venv
	$(BIN)/autoassign simulate

bench: venv
	$(BIN)/python -m benchmarks.run

bench-quick: venv
	$(BIN)/python -m benchmarks.run --quick

# The documentation site (mkdocs.yml) into site/; --strict: a warning, such as a broken
# cross-reference, fails the build.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
