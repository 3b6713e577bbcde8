# The README's two commands: `make run` and `make test`. Both work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck importlint pytest venv bench simulate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/gpusched up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy scheduler agent api
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

simulate: $(STAMP)
	$(BIN)/gpusched simulate --pods data/alibaba-gpu-v2023/openb_pod_list_default.csv --policy fgd --seeds 42-51

bench: $(STAMP)
	$(BIN)/gpusched bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
