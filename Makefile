# Two commands: `make run` (set up, then run the service on the example targets) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOWEST := .venv-lowest

.PHONY: run check test test-postgresql test-lowest lint format bench clean axe

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

# The store-touching tests again with the index on PostgreSQL (a throwaway cluster of
# Debian's server, tests/pgserver.py; skipped, saying so, without it): the files whose
# tests open a store, not the whole suite, so that `make test` stays under 10 minutes
PG_TESTS := tests/test_store.py tests/test_pgstore.py tests/test_web.py tests/test_inbox.py \
	tests/test_documents.py tests/test_desk.py tests/test_exports.py tests/test_accounts.py \
	tests/test_ui_lists.py tests/test_search_numbers.py tests/test_hits.py \
	tests/test_web_security.py tests/test_identity.py tests/test_evidence.py tests/test_warc.py

# The suite in PARALLEL processes (pytest-xdist): most of its time is spent waiting on the
# servers, browsers and subprocesses it starts, so 4 of them keep 2 cores busy
PARALLEL ?= 4

test: $(BIN)/watcher axe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(PARALLEL)
	$(BIN)/pytest -n $(PARALLEL) --store=postgresql $(PG_TESTS)

test-postgresql: $(BIN)/watcher
	$(BIN)/pytest -n $(PARALLEL) --store=postgresql $(PG_TESTS)

# axe-core for tests/test_a11y.py, at the version tests/a11y/package.json pins; without npm
# that test is skipped, saying so (.ci/run installs npm)
AXE := tests/a11y/node_modules/axe-core/axe.min.js
axe:
	@if command -v npm >/dev/null; then $(MAKE) -s --no-print-directory $(AXE); \
	else echo "no npm: tests/test_a11y.py will be skipped (apt-get install npm)"; fi

$(AXE): tests/a11y/package.json
	cd tests/a11y && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

# The suite against the lowest versions pyproject.toml allows (uv's lowest-direct), so that
# its lower bounds stay true; built afresh, since uv keeps what an old venv already has.
test-lowest: $(LOWEST)/bin/watcher axe
	$(LOWEST)/bin/pytest

$(LOWEST)/bin/watcher: pyproject.toml | $(BIN)/watcher
	$(BIN)/pip install --quiet uv
	rm -rf $(LOWEST)
	$(BIN)/uv venv --quiet --python $(PY) $(LOWEST)
	VIRTUAL_ENV=$(LOWEST) $(BIN)/uv pip install --quiet --resolution lowest-direct -e '.[test]'
	touch $@

lint: $(BIN)/watcher
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/watcher
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(LOWEST) build *.egg-info
