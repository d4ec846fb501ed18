#!/bin/sh
# Builds the NIF and the worker and lays out priv/ (the NIF, the worker program and the
# Python package), from any caller: make, a rebar3 pre-compile hook (also as a
# dependency), or Mix.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${PY_NIF_PROFILE:-release}
if [ "$profile" = release ]; then flag=--release; else flag=; fi
# The Python the NIF links against comes from the pin, never from PATH, VIRTUAL_ENV or
# PYO3_PYTHON as they happen to be in this shell (see pin-python.sh).
PYO3_CONFIG_FILE=$(sh scripts/pin-python.sh)
export PYO3_CONFIG_FILE
# --locked: the build uses exactly Cargo.lock; crates come from the crates.io cache or registry, never Hex or GitHub.
cargo build $flag --locked -p py_nif -p py_worker --quiet
mkdir -p priv/python
so=target/$profile/libpy_nif.so
[ -f "$so" ] || so=target/$profile/libpy_nif.dylib
# A name of its own: two builds at once (rebar3 and mix) must not collide.
tmp=priv/.py_nif.so.$$
cp -f "$so" "$tmp" && mv -f "$tmp" priv/py_nif.so
# The worker (docs/worker-protocol.md): replaced whole, so a worker starting meanwhile
# runs the old program or the new one, never half of one.
tmp=priv/.py_worker.$$
cp -f "target/$profile/py_worker" "$tmp" && mv -f "$tmp" priv/py_worker
stage=priv/python/.erlang.$$
rm -rf "$stage"
cp -R python/erlang "$stage"
rm -rf priv/python/erlang
mv "$stage" priv/python/erlang
find priv/python -name __pycache__ -prune -exec rm -rf {} +
