# Every target sets itself up: a fresh machine needs only Python 3.11 and the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when a file that declares dependencies changed.
STAMP := $(VENV)/.floe-installed
DEPS := pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
CODE := floe_tui $(PLUGINS) tests $(wildcard bench)

.PHONY: run demo test lint bench install clean java servers

install: $(STAMP)

$(STAMP): $(DEPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools says 'Editable installation' for every editable project that is not a src layout
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	@touch $(STAMP)

# Local test servers run in venvs of their own (.venv-servers/NAME; they pin other versions of
# shared packages, e.g. fakesnow's duckdb 2), each from plugins/*/tests/servers/NAME.txt and re-made
# only when that file changes. A plugin with a server adds its NAME here.
SERVER_VENVS := fakesnow crucible
SERVER_STAMPS := $(foreach s,$(SERVER_VENVS),.venv-servers/$(s)/.floe-installed)

servers: $(SERVER_STAMPS)

.SECONDEXPANSION:
.venv-servers/%/.floe-installed: $$(firstword $$(wildcard plugins/*/tests/servers/$$*.txt))
	@test -n "$<" || { echo "no plugins/*/tests/servers/$*.txt for server venv $*" >&2; exit 1; }
	rm -rf .venv-servers/$*
	$(PYTHON) -m venv .venv-servers/$*
	.venv-servers/$*/bin/python -m pip install --quiet -r $<
	@touch $@

# Spark 4 needs a Java 17+ runtime: found, or installed from Debian's packages.
java:
	@bash plugins/floe-compute-spark/ensure-java.sh

run: $(STAMP) java
	$(BIN)/floe-tui

# The clouds sample (sample_manifests/clouds) on local servers that speak Snowflake's and BigQuery's
# protocols: each launcher starts its server, seeds it, runs the next command and stops the server.
demo: $(STAMP) java servers
	$(BIN)/python plugins/floe-compute-snowflake/tests/servers/fakesnow_demo.py -- \
	  $(BIN)/python plugins/floe-compute-bigquery/tests/servers/crucible_demo.py -- \
	  $(BIN)/floe-tui -m sample_manifests/clouds

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy floe_tui $(foreach p,$(PLUGINS),$(p)/src)
	$(BIN)/lint-imports --no-cache

test: lint java servers
	$(BIN)/python -m pytest --durations=15

# Byte-compiled first, as pip does for a regular install (this image sets PYTHONDONTWRITEBYTECODE).
bench: $(STAMP) java servers
	$(BIN)/python -m compileall -q floe_tui $(PLUGINS) > /dev/null
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-servers .pytest_cache .mypy_cache .ruff_cache
