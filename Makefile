# Quickstart: `make demo` (then `make demo-rdarts`, `make test`). All create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed
STAMP := $(VENV)/.installed-dev
DEMO := runs/demo
# The demo's tensors are tiny: a second thread per process gains little and, on cores shared
# with other work, costs several times the run time (measured: 28 s vs 4 s per epoch).
DEMO_THREADS ?= 1

.PHONY: demo demo-rdarts test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# rdarts and its dependencies only (torch, torchvision, numpy, scipy, matplotlib, PyYAML, tqdm).
$(BASE): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(BASE)

# Plus the dev extra: pytest (run in parallel by pytest-xdist), ruff, ray, tensorboard.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(BASE)

# A short first-order DARTS search on the embedded Fashion-MNIST subset, with lambda_max every
# epoch, then the report of it: the found cells, lambda_max and softmax(alpha) figures.
demo: $(BASE)
	rm -rf $(DEMO)
	OMP_NUM_THREADS=$(DEMO_THREADS) $(BIN)/rdarts search --preset tiny --order 1 --nodes 2 --max-train-images 800 \
		--layers 4 --epochs 8 --space s3 --dataset fashion-mnist --seed 0 --device cpu \
		--out $(DEMO)/search
	$(BIN)/rdarts report $(DEMO)/search --out $(DEMO)/report
	@echo "open $(DEMO)/report/report.md (figures next to it); the run: $(DEMO)/search"

# R-DARTS(L2) end to end on the same data: four --preset tiny searches (second order) with the
# L2 factors 3e-4, 9e-4, 27e-4 and 81e-4, a short retraining of each found cell, the choice.
demo-rdarts: $(BASE)
	rm -rf runs/demo-rdarts
	OMP_NUM_THREADS=$(DEMO_THREADS) $(BIN)/rdarts r-darts --regularizer l2 --preset tiny \
		--space s3 --dataset fashion-mnist --device cpu --verbose --out runs/demo-rdarts
	$(BIN)/rdarts report runs/demo-rdarts --out runs/demo-rdarts/report
	@echo "open runs/demo-rdarts/report/report.md"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/search_step.py

clean:
	rm -rf $(VENV) build src/*.egg-info
