# The two commands: `make demo` and `make test`. Both bring up .venv first
# (tools/setup_env.sh; idempotent, nothing is reinstalled on a second run).
VENV   ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: env demo test lint format clean-env

env:
	@bash tools/setup_env.sh

# train ShuffleNet V2 on the built-in toy shapes, evaluate, check top-1 >= 90%
demo: env
	$(PYTHON) tools/misc/demo.py

lint: env
	$(PYTHON) -m ruff check .

format: env
	$(PYTHON) -m ruff check --fix .

test: env lint
	$(PYTHON) -m pytest -q

clean-env:
	rm -rf $(VENV)
