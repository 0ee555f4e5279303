# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
DATA_DIR ?= $(CURDIR)/var/data
APPLIANCE := $(VENV)/bin/appliance --data-dir $(DATA_DIR)

.PHONY: run test lock bench-index

$(VENV)/.appliance-installed: requirements.lock pyproject.toml install/bootstrap
	VENV=$(VENV) install/bootstrap

run: $(VENV)/.appliance-installed
	$(APPLIANCE) quickstart

test: $(VENV)/.appliance-installed
	$(VENV)/bin/ruff check appliance tests
	$(VENV)/bin/ruff format --check appliance tests
	$(VENV)/bin/pytest

lock:
	install/lock

bench-index: $(VENV)/.appliance-installed
	$(VENV)/bin/appliance bench index
