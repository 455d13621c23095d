# Each target does its own set-up: a virtual environment with turnout and its test tools.
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,azure,report,dashboard]'
	touch $@

# Debian packages the tests drive for real: Chromium for the pages' browser tests, OpenSSH's
# ssh-keygen for signatures, libltdl7 that the ODBC driver inside mssql-python loads, and
# nginx as the reverse proxy in front of the dashboard (run by the test as its own process;
# the package's service is not used). Installed once per machine (as root, or through sudo).
SYSTEM_TOOLS := /usr/bin/chromium /usr/bin/ssh-keygen /usr/lib/x86_64-linux-gnu/libltdl.so.7 /usr/sbin/nginx
$(SYSTEM_TOOLS):
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium openssh-client libltdl7 nginx-light'

# npm (Debian's nodejs) installs the storage emulator the bacpac tests write blobs to.
/usr/bin/npm:
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm'

# Azurite, pinned by tests/azurite/package-lock.json: the Azure Storage emulator of the
# bacpac export tests, installed exactly as locked.
AZURITE := tests/azurite/node_modules/.bin/azurite-blob
$(AZURITE): tests/azurite/package-lock.json /usr/bin/npm
	cd tests/azurite && npm ci --no-audit --no-fund --silent
	touch $@

.PHONY: demo test lint system-tools benchmark-tools
system-tools: $(SYSTEM_TOOLS) $(AZURITE)

demo: $(BIN)/.installed
	$(BIN)/turnout demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint system-tools
	$(BIN)/pytest

# The reference proxy benchmarks/swap_under_load.py measures the router against: Debian's
# nginx (run there as its own process on loopback; the package's own service is not used).
benchmark-tools:
	apt-get install -y --no-install-recommends nginx-light wrk
