# rlkit — the README's commands. Every target creates the venv first if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rlkit-installed
# The CPU build of torch, installed on purpose before anything else so that no dependency
# range pulls a multi-GB CUDA build. On a CUDA machine: make setup TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
RUNS ?= runs

.PHONY: setup test lint unit notebooks notebooks-ci lab bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[notebooks,dev]"
	$(PY) -m ipykernel install --sys-prefix --name rlkit --display-name "Python (rlkit)" >/dev/null
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check rlkit tests notebooks
	$(PY) -m ruff format --check rlkit tests

unit: $(STAMP)
	$(PY) -m pytest tests

# Smoke scale: execute every notebook with notebooks/ci_params.yaml, then validate with nbval.
notebooks-ci: $(STAMP)
	$(PY) -m rlkit notebooks --scale ci --out $(RUNS)/ci
	$(PY) -m pytest -p no:cacheprovider --nbval-lax -o addopts="" -o testpaths="" $(RUNS)/ci/*.ipynb

test: lint unit notebooks-ci

# Teaching scale: the notebooks' own parameters, outputs in runs/notebooks/.
notebooks: $(STAMP)
	$(PY) -m rlkit notebooks --scale teach --out $(RUNS)/notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

bench: $(STAMP)
	mkdir -p $(RUNS)
	$(PY) -m rlkit bench env --env vizdoom:basic --seconds 10 --json --out $(RUNS)/bench-env.json

clean:
	rm -rf $(RUNS) .pytest_cache .ruff_cache
