# Clypt MCP: `make run` installs and starts Clypt (`clypt-mcp serve`) on its embedded SQLite default;
# `make test` installs everything and runs the whole suite (lint, types, tests, conformance).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-stdio run-http install test lint check pytest conformance bench bundle dist clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip >$(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test]" >>$(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/clypt-mcp serve --host 127.0.0.1 --port 8080

run-stdio: $(STAMP)
	$(BIN)/clypt-mcp

run-http: $(STAMP)
	$(BIN)/clypt-mcp --transport streamable-http --host 127.0.0.1 --port 8000

lint: $(STAMP)
	@$(BIN)/ruff check -q src tests bench scripts
	@$(BIN)/ruff format --check -q src tests bench scripts
	@$(BIN)/mypy src tests

# Two passes: the suite on $(PYTEST_WORKERS) processes (pytest-xdist), then the tests marked
# `serial` (wall-clock bounds, kill -9 and outages under load) alone. Both run even when the first
# fails. On this 2-core machine with coverage on, 3 workers ran the first pass in 661-719 s and 4
# in 787 s (fresh-clone .ci/run); most tests wait on subprocesses and sockets, but coverage's
# tracing makes the rest CPU-bound.
# Coverage is measured over both and printed (lowest modules first, see pyproject.toml): the
# figure is reported, never held to a threshold.
PYTEST_WORKERS ?= 3
pytest: $(STAMP)
	@rc=0; \
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) -m "not serial" \
		--cov=clypt_mcp --cov-report= || rc=$$?; \
	echo "make pytest: the tests marked serial, one at a time"; \
	$(BIN)/python -m pytest -q -p no:cacheprovider -m serial \
		--cov=clypt_mcp --cov-append --cov-report=term || rc=$$?; \
	exit $$rc

conformance: $(STAMP)
	@bash scripts/conformance

# scripts/test brings up what the suite needs (Chromium, a throwaway PostgreSQL), names any part it
# must skip, and runs lint, conformance and pytest; it leaves no process or temporary file behind.
test: $(STAMP)
	@bash scripts/test

# dist/clypt-mcp-VERSION.mcpb: the MCP Bundle Claude Desktop installs with a double-click
# (tests/e2e/test_distribution.py checks it with the official mcpb CLI and starts it).
bundle: $(STAMP)
	@$(BIN)/python scripts/bundle.py dist

# dist/: the sdist and wheel (`pip install dist/*.whl`, `uvx --from dist/*.whl clypt-mcp`).
dist: $(STAMP)
	@$(BIN)/python -m build --no-isolation --outdir dist . >$(VENV)/build.log 2>&1 || (cat $(VENV)/build.log; exit 1)
	@rm -rf build src/clypt_mcp.egg-info
	@ls dist/*.whl dist/*.tar.gz

bench: $(STAMP)
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache node_modules dist build
