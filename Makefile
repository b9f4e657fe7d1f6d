# rlkit — the README's commands. Every target creates the venv first if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rlkit-installed
# The CPU build of torch, installed on purpose before anything else so that no dependency
# range pulls a multi-GB CUDA build. On a CUDA machine: make setup TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
RUNS ?= runs

.PHONY: setup browser xvfb test lint unit notebooks notebooks-ci expected-outputs test-under-load gpu-record lab bench clean

setup: $(STAMP) browser xvfb

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[notebooks,dev]"
	$(PY) -m ipykernel install --sys-prefix --name rlkit --display-name "Python (rlkit)" >/dev/null
	touch $(STAMP)

# Headless Chromium from Debian's packages, for tests/test_jupyterlab.py (playwright drives it;
# no browser is ever downloaded). Installed only when missing, as root where apt-get exists; any
# failure is reported, not fatal, so that test skips with the reason instead of breaking setup.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "browser: installing chromium with apt-get (once)"; \
	  log=$$(mktemp); \
	  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      >"$$log" 2>&1; then :; else \
	    tail -n 5 "$$log"; \
	    echo "browser: chromium could not be installed; tests/test_jupyterlab.py will skip"; \
	  fi; \
	  rm -f "$$log"; \
	else \
	  echo "browser: no $(CHROMIUM), and installing it needs root and apt-get;" \
	    "tests/test_jupyterlab.py will skip"; \
	fi

# A virtual X display (Debian's xvfb, and xwininfo from x11-utils) for tests/test_player.py,
# which opens `rlkit play --window`'s game window in it and looks at the screen. The same rules
# as for the browser: only when missing, as root with apt-get, never fatal (the tests skip).
XVFB ?= /usr/bin/Xvfb
xvfb:
	@if [ -x $(XVFB) ] && command -v xwininfo >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "xvfb: installing xvfb and x11-utils with apt-get (once)"; \
	  log=$$(mktemp); \
	  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb \
	      x11-utils) >"$$log" 2>&1; then :; else \
	    tail -n 5 "$$log"; \
	    echo "xvfb: xvfb could not be installed; the --window tests in tests/test_player.py skip"; \
	  fi; \
	  rm -f "$$log"; \
	else \
	  echo "xvfb: no $(XVFB), and installing it needs root and apt-get;" \
	    "the --window tests in tests/test_player.py skip"; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check rlkit tests notebooks
	$(PY) -m ruff format --check rlkit tests

# Three processes, each taking whole test files (module-scoped fixtures such as a Ray cluster
# start once): the suite's start-ups wait more than they compute. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 3
unit: $(STAMP) browser xvfb
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) --dist loadfile

# Smoke scale: execute every notebook once with notebooks/ci_params.yaml; the cells marked
# NBVAL_CHECK_OUTPUT are compared with notebooks/expected_outputs.json on that one execution.
# Two at a time: a kernel keeps about one core busy, so one after the other left a core idle.
NOTEBOOK_JOBS ?= 2
notebooks-ci: $(STAMP)
	$(PY) -m rlkit notebooks --scale ci --out $(RUNS)/ci --jobs $(NOTEBOOK_JOBS)

# After changing on purpose what a checked cell prints: run the notebooks at CI scale and
# rewrite notebooks/expected_outputs.json from their checked cells.
expected-outputs: $(STAMP)
	$(PY) -m rlkit notebooks --scale ci --out $(RUNS)/ci --record-outputs

# One after the other: run side by side (make -j2) they took 16 min 22 s from a fresh clone
# instead of about 15, with both cores saturated, and Ray nodes started under that load failed.
test: lint unit notebooks-ci

# The proof that no test depends on the machine's load: the unit suite UNDER_LOAD_RUNS times in
# a row beside two CPU-bound processes (every run must pass). UNDER_LOAD_TESTS narrows it, e.g.
# make test-under-load UNDER_LOAD_RUNS=20 UNDER_LOAD_TESTS="tests/test_pool.py"
UNDER_LOAD_RUNS ?= 3
UNDER_LOAD_TESTS ?= tests
test-under-load: $(STAMP) browser xvfb
	$(PY) tests/under_load.py --runs $(UNDER_LOAD_RUNS) --json $(RUNS)/under-load.json \
	  -- $(UNDER_LOAD_TESTS) -n $(PYTEST_WORKERS) --dist loadfile

# Everything that needs a real GPU, in one run on the GPU machine (rlkit/bench/gpu_record.py):
# that machine's own Python and torch, no venv, no network, ~4 min; the records go to
# data/benchmarks/ with the GPU's name. `make gpu-record GPU_DEVICE=cpu GPU_PYTHON=.venv/bin/python`
# tries the same path here.
GPU_PYTHON ?= python3
GPU_DEVICE ?= cuda
gpu-record:
	$(GPU_PYTHON) -m rlkit.bench.gpu_record --device $(GPU_DEVICE) --wheels $(RUNS)/wheels

# Teaching scale: the notebooks' own parameters, outputs in runs/notebooks/.
notebooks: $(STAMP)
	$(PY) -m rlkit notebooks --scale teach --out $(RUNS)/notebooks

# Jupyter refuses to start as root without --allow-root (containers, CI machines).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)
	mkdir -p $(RUNS)
	$(PY) -m rlkit bench env --env vizdoom:basic --seconds 10 --json --out $(RUNS)/bench-env.json

clean:
	rm -rf $(RUNS) .pytest_cache .ruff_cache
