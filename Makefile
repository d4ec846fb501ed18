# py: Python for the BEAM. `make shell` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export PATH := $(HOME)/.cargo/bin:$(PATH)
# The NIF is built against, and embeds, one Python (3.11 with a shared libpython), pinned
# once in this file (scripts/pin-python.sh): cargo then ignores PATH, VIRTUAL_ENV and
# PYO3_PYTHON, so make, rebar3 and mix share one build of the NIF.
export PYO3_CONFIG_FILE := $(shell sh scripts/pin-python.sh)
# The embedded interpreter uses the project's virtualenv (numpy, pytest) unless told otherwise.
export VIRTUAL_ENV ?= $(CURDIR)/.venv
REBAR ?= rebar3

.PHONY: all setup native build shell test test-rust test-erlang test-elixir test-python lint bench soak clean

all: build

setup:
	@sh scripts/setup.sh

native: setup
	sh scripts/build-native.sh

build: setup
	$(REBAR) compile

## An Erlang shell with py started: try py:func(math, pow, [2, 16]).
shell: build
	$(REBAR) shell

## Every test suite and every lint check; non-zero if anything fails.
test: build
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-rust test-erlang test-elixir test-python
	@echo "make test: all suites and lint checks passed"

test-rust: setup
	cargo test --locked --workspace

test-erlang:
	$(REBAR) eunit
	$(REBAR) ct

test-elixir:
	MIX_ENV=test mix test

test-python:
	.venv/bin/python -m pytest -q -p no:cacheprovider python/tests/unit

lint: setup
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(REBAR) xref
	$(REBAR) dialyzer
	mix format --check-formatted

## Speed figures named in the issues (not a test: it prints, it does not judge).
bench: build
	sh bench/run.sh

## The long reliability run (not in `make test`): a million calls and 100,000 random
## terms, with calls/s, RSS and threads before and after. PY_FUZZ_SEED=N replays a seed.
soak: build
	PY_SOAK=1 $(REBAR) ct --suite test/py_safety_SUITE --group soak

clean:
	rm -rf _build priv target .venv
