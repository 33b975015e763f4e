# Quickstart: `make demo` then `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# R-DARTS(L2) end to end on the embedded Fashion-MNIST subset: four tiny searches with four
# L2 factors, a short retraining of each found cell, and the choice.
demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/rdarts rdarts --regularizer l2 --preset tiny --space s3 --dataset fashion-mnist \
		--out runs/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/search_step.py

clean:
	rm -rf $(VENV) build src/*.egg-info
