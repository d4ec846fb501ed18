#!/bin/sh
# Installs what `make shell` and `make test` need, only when it is missing, so a second
# run costs a few checks: Erlang/OTP, rebar3, Elixir and PropEr from Debian's packages,
# and a virtualenv with numpy and pytest under the project (.venv).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

missing=""
command -v erl >/dev/null 2>&1 || missing="$missing erl"
command -v rebar3 >/dev/null 2>&1 || missing="$missing rebar3"
command -v elixir >/dev/null 2>&1 || missing="$missing elixir"
command -v dialyzer >/dev/null 2>&1 || missing="$missing dialyzer"
ls -d /usr/lib/erlang/lib/proper-* >/dev/null 2>&1 || missing="$missing proper"
[ -f /usr/lib/erlang/usr/include/erl_nif.h ] || missing="$missing erl_nif.h"
if [ -n "$missing" ]; then
    echo "setup: installing from Debian (missing:$missing)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        erlang-nox erlang-dev erlang-dialyzer erlang-eunit erlang-common-test erlang-tools \
        erlang-proper erlang-proper-dev rebar3 elixir >/dev/null
fi

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is required (Rust toolchain)" >&2; exit 1; }

# The NIF embeds the Python it was built against (a 3.11 with a shared libpython, pinned
# by pin-python.sh); the venv must be made by that same Python, or its standard library
# would come from another prefix.
pin=$(sh scripts/pin-python.sh) || exit 1
python=$(sed -n 's/^executable=//p' "$pin")

stamp=.venv/.py-setup
want="$("$python" -c 'import sys; print(sys.executable)') $(cat python/requirements-dev.txt | tr '\n' ' ')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: creating .venv"
    rm -rf .venv
    "$python" -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r python/requirements-dev.txt
    echo "$want" > "$stamp"
fi
