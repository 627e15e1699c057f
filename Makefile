# Two commands matter: `make demo` and `make test`. Both create .venv on a fresh clone.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    ?= ../shared/data

.PHONY: demo test results fuzz bench lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[web,onnx,train,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m srcnn demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

results: $(STAMP)
	$(BIN)/python -m srcnn.results --data $(DATA) --out docs

bench: $(STAMP)
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/train_throughput.py --data $(DATA)

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
