# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= .postbus-demo

.PHONY: run test lint clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { echo "Need python3-venv: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/postbus serve --demo --data-dir $(DATA)

test: $(STAMP)
	./scripts/test-setup
	$(BIN)/ruff check postbus tests bench
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check postbus tests bench
	$(BIN)/ruff format --check postbus tests bench

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
