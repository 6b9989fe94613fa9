# Two commands: `make run` (set up, then run the service on the example targets) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run check test lint format bench clean

$(BIN)/watcher: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/watcher

run: $(BIN)/watcher
	$(BIN)/watcher validate
	$(BIN)/watcher run

check: $(BIN)/watcher
	$(BIN)/watcher check

test: $(BIN)/watcher
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(BIN)/watcher
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/watcher
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
