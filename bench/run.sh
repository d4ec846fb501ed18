#!/bin/sh
# Runs the benchmarks in bench/py_bench.erl against the built application
# (make bench). Prints one line per figure: the median and its target.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The interpreter uses this virtualenv (numpy etc.), as the tests do.
VIRTUAL_ENV=${VIRTUAL_ENV:-$root/.venv}
export VIRTUAL_ENV
rebar3 compile >/dev/null
mkdir -p _build/bench
erlc +debug_info +warn_missing_spec +warnings_as_errors -o _build/bench bench/py_bench.erl
exec erl -noshell -pa _build/default/lib/*/ebin -pa _build/bench -s py_bench main
