#!/bin/sh
# Builds the NIF and lays out priv/ (the NIF and the Python package), from any
# caller: make, a rebar3 pre-compile hook (also as a dependency), or Mix.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${PY_NIF_PROFILE:-release}
if [ "$profile" = release ]; then flag=--release; else flag=; fi
# --locked: the build uses exactly Cargo.lock; crates come from the crates.io cache or registry, never Hex or GitHub.
cargo build $flag --locked -p py_nif --quiet
mkdir -p priv/python
so=target/$profile/libpy_nif.so
[ -f "$so" ] || so=target/$profile/libpy_nif.dylib
cp -f "$so" priv/py_nif.so.tmp && mv -f priv/py_nif.so.tmp priv/py_nif.so
rm -rf priv/python/erlang
cp -R python/erlang priv/python/erlang
find priv/python -name __pycache__ -prune -exec rm -rf {} +
