# whoknows: the two commands a new user needs are `make run` and `make test`.
# Both create .venv and install everything on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The sample index is the DVC pipeline's output (dvc.yaml).
SAMPLE_TOPICS := data/topics/sample
SAMPLE_INDEX := data/index/sample
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# The browser tests drive Debian's Chromium: Playwright cannot download a browser here.
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint typecheck unit bench sample-index repro clean install chromium

install: $(INSTALLED)

# torch first, from the local CPU wheel: anything that pulls torch from the registry
# brings gigabytes of CUDA packages with it. Last, the default encoder's ONNX export is
# made once from the installed weights (else the first build would wait for torch).
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -c "from models.encoder import Encoder; Encoder()"
	touch $@

# The sample index is the DVC pipeline's output (dvc.yaml): `dvc repro` rebuilds
# what the sample data or params.yaml changed, and nothing when they did not.
# Unchanged passages come from the embedding cache, so a rebuild is quick.
PIPELINE := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc

# DVC cannot see the database, so ingest always reruns (a second): people erased on
# request since the last build leave the index; if nobody was, nothing downstream reruns.
INGEST := $(PIPELINE) repro --force --single-item ingest

sample-index: $(INSTALLED)
	$(INGEST)
	$(PIPELINE) repro index topics

# Anonymous access is for trying the sample: only clients on 127.0.0.1/::1 get in without
# a key, as a caller of no group, and the log says so. Real deployments use keys.
run: sample-index
	WHOKNOWS_ANONYMOUS=true $(BIN)/whoknows serve --index $(SAMPLE_INDEX) --topics $(SAMPLE_TOPICS) --host $(HOST) --port $(PORT)

repro: $(INSTALLED)
	$(INGEST)
	$(PIPELINE) repro

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || { echo "cannot install chromium (needs root and Debian's packages): install it, or set CHROMIUM=/path/to/chromium"; exit 1; }; }

unit: $(INSTALLED) chromium
	WHOKNOWS_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

test: lint typecheck unit

bench: $(INSTALLED) chromium
	WHOKNOWS_CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/benchmarks -m benchmark -s

clean:
	rm -rf $(VENV) data/index .pytest_cache .mypy_cache .ruff_cache test-artifacts
