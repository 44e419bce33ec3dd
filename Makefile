# Every target sets itself up: a fresh machine needs only Python 3.11 and the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when a file that declares dependencies changed.
STAMP := $(VENV)/.floe-installed
DEPS := pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
CODE := floe_tui $(PLUGINS) tests $(wildcard bench)

.PHONY: run test lint bench install clean java

install: $(STAMP)

$(STAMP): $(DEPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools says 'Editable installation' for every editable project that is not a src layout
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	@touch $(STAMP)

# Spark 4 needs a Java 17+ runtime: found, or installed from Debian's packages.
java:
	@bash plugins/floe-compute-spark/ensure-java.sh

run: $(STAMP) java
	$(BIN)/floe-tui

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy floe_tui $(foreach p,$(PLUGINS),$(p)/src)
	$(BIN)/lint-imports --no-cache

test: lint java
	$(BIN)/python -m pytest --durations=15

# Byte-compiled first, as pip does for a regular install (this image sets PYTHONDONTWRITEBYTECODE).
bench: $(STAMP) java
	$(BIN)/python -m compileall -q floe_tui $(PLUGINS) > /dev/null
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
