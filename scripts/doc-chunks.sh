#!/bin/sh
# Adds the EEP 48 documentation chunks to the built .beam files (see doc-chunks.erl):
# sh scripts/doc-chunks.sh EBIN_DIR. Run by rebar3 (a post-compile hook) and Mix.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ebin=$1
[ -d "$ebin" ] || exit 0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
erlc -o "$out" "$root/scripts/doc-chunks.erl"
erl -noshell -pa "$out" -eval "'doc-chunks':main([\"$ebin\", \"$root/src\", \"$out\"]), halt()."
