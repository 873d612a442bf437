PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: run test lint bench constraints clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/triage-bot serve --host 127.0.0.1 --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/mypy

# Each benchmark exits non-zero when it misses its target, and make stops there.
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/batch.py
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/heuristics.py --check
	$(BIN)/python benchmarks/redact.py
	$(BIN)/python benchmarks/ack.py
	$(BIN)/python benchmarks/storm.py
	$(BIN)/python benchmarks/replicas.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/hostile.py --check
	$(BIN)/python benchmarks/identity.py
	$(BIN)/python benchmarks/context.py

# deploy/constraints.txt: the exact versions of the runtime dependencies installed in .venv (the tested ones)
constraints: $(VENV)/.installed-dev
	$(BIN)/python deploy/freeze.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
