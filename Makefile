# Two commands matter: `make demo` and `make test`. Both create .venv on a fresh clone.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    ?= ../shared/data

.PHONY: demo test results fuzz bench bench-peers lint clean wip-save wip-restore

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[web,onnx,train,dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m srcnn demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q tests/test_layers.py

results: $(STAMP)
	$(BIN)/python -m srcnn.results --data $(DATA) --out docs --readme README.md

fuzz: $(STAMP)
	$(BIN)/python benchmarks/fuzz.py -n 10000

bench: $(STAMP)
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/train_throughput.py --data $(DATA)

bench-peers: $(STAMP)
	mkdir -p out
	$(BIN)/python benchmarks/peers.py --data $(DATA) --json out/peers.json

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache

# Training that spans sessions: keep the latest state of runs/$(RUN) in weights/wip/$(RUN) (committed, each file
# < 1 MB: a last.pt of 1 MB or more is saved slim, see tools/wip.py; --resume reads either).
RUN ?= x3
wip-save:
	$(BIN)/python tools/wip.py $(RUN)

wip-restore:
	mkdir -p runs/$(RUN)
	cp -n weights/wip/$(RUN)/* runs/$(RUN)/
