#!/bin/sh
# Pins the Python the NIF is linked against and prints the path of the pin: a PyO3
# config file (target/py-python/pyo3-config.txt) that build-native.sh, the Makefile and
# cargo (through PYO3_CONFIG_FILE) read.
#
# Without the pin, PyO3 asks $PYO3_PYTHON, else $VIRTUAL_ENV, else `python3` on $PATH,
# and cargo rebuilds the NIF (15-40 s) whenever one of them differs: rebar3 and mix put
# /usr/lib/erlang/bin first on PATH, and an activated venv silently relinked the NIF
# against that venv's base Python. With the pin, those variables are not read at all.
#
# The pin is made once (from scripts/find-python.sh) and kept; the interpreter is
# resolved to its real executable (not a pyenv shim, not a venv's python). To move to
# another Python, set PYO3_PYTHON (the pin follows it and says so) or delete the file.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
pin=$root/target/py-python/pyo3-config.txt

if [ -f "$pin" ] && [ -z "${PYO3_PYTHON:-}" ]; then
    echo "$pin"
    exit 0
fi

python=$(sh "$root/scripts/find-python.sh") || exit 1
config=$("$python" - <<'PY'
import os, struct, sys, sysconfig
v = sysconfig.get_config_var
flags = [f for f in ("Py_DEBUG", "Py_REF_DEBUG", "Py_TRACE_REFS", "COUNT_ALLOCS", "Py_GIL_DISABLED") if v(f)]
# The interpreter itself, not a venv's python or a symlink to it: the NIF embeds this one.
exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
print("implementation=CPython")
print("version=%d.%d" % sys.version_info[:2])
print("shared=%s" % ("true" if v("Py_ENABLE_SHARED") else "false"))
print("lib_name=python%s" % (v("LDVERSION") or "%d.%d" % sys.version_info[:2]))
print("lib_dir=%s" % v("LIBDIR"))
print("executable=%s" % exe)
print("pointer_width=%d" % (struct.calcsize("P") * 8))
print("build_flags=%s" % ",".join(flags))
print("suppress_build_script_link_lines=false")
PY
) || { echo "pin-python: $python could not describe itself" >&2; exit 1; }

if [ -f "$pin" ] && [ "$(cat "$pin")" = "$config" ]; then
    echo "$pin"
    exit 0
fi
if [ -f "$pin" ]; then
    old=$(sed -n 's/^executable=//p' "$pin")
    new=$(echo "$config" | sed -n 's/^executable=//p')
    echo "pin-python: the NIF will now be built against $new (was $old), from PYO3_PYTHON" >&2
fi
mkdir -p "$(dirname "$pin")"
# Written only when it changes: cargo rebuilds PyO3 and the NIF when the file is touched.
tmp=$pin.$$
echo "$config" > "$tmp"
mv -f "$tmp" "$pin"
echo "$pin"
