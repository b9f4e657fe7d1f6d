# rlkit — the README's commands. Every target creates the venv first if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rlkit-installed
# The CPU build of torch, installed on purpose before anything else so that no dependency
# range pulls a multi-GB CUDA build. On a CUDA machine: make setup TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
RUNS ?= runs

.PHONY: setup browser xvfb test lint unit notebooks notebooks-ci lab bench clean

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

unit: $(STAMP) browser xvfb
	$(PY) -m pytest tests

# Smoke scale: execute every notebook with notebooks/ci_params.yaml, then validate with nbval.
notebooks-ci: $(STAMP)
	$(PY) -m rlkit notebooks --scale ci --out $(RUNS)/ci
	$(PY) -m pytest -p no:cacheprovider --nbval-lax -o addopts="" -o testpaths="" $(RUNS)/ci/*.ipynb

test: lint unit notebooks-ci

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
