# Each target does its own set-up: a virtual environment with turnout and its test tools.
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,azure]'
	touch $@

.PHONY: demo test lint benchmark-tools
demo: $(BIN)/.installed
	$(BIN)/turnout demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The reference proxy benchmarks/swap_under_load.py measures the router against: Debian's
# nginx (run there as its own process on loopback; the package's own service is not used).
benchmark-tools:
	apt-get install -y --no-install-recommends nginx-light wrk
