# The two commands: `make demo` and `make test`. Both bring up .venv first
# (tools/setup_env.sh; idempotent, nothing is reinstalled on a second run).
VENV   ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: env demo test lint docs format clean-env

env:
	@bash tools/setup_env.sh

# train ShuffleNet V2 on the built-in toy shapes, evaluate, check top-1 >= 85%
demo: env
	$(PYTHON) tools/misc/demo.py

lint: env
	$(PYTHON) -m ruff check .

# the documentation site into docs/_build/html; any warning is an error
docs: env
	$(PYTHON) -m sphinx -b html -W --keep-going -q docs docs/_build/html

format: env
	$(PYTHON) -m ruff check --fix .

# the 15 slowest tests are listed at the end, to keep the suite's time in view
test: env lint docs
	$(PYTHON) -m pytest -q --durations=15

clean-env:
	rm -rf $(VENV)
